"""The root ``eddpm`` Typer app: global options and one registered function per subcommand.

Subcommand modules import only typer and typing at module level; torch, transformers and
diffusers are imported inside the commands, so ``eddpm --help`` and usage errors stay fast.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from eddpm_cli import decode, edit, encode, generate, interpolate, predict, reconstruct, train
from eddpm_cli._errors import state

app = typer.Typer(
    name="eddpm",
    help="Encoding-decoding diffusion models (EDDPM): one model to train, generate, reconstruct, "
    "encode, interpolate, edit and predict, for text, proteins and images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"eddpm {version('eddpm')}")
        except PackageNotFoundError:
            typer.echo("eddpm (not installed)")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and warnings on stderr.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More detail on stderr.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """Global options; they go before the subcommand (eddpm -q encode ...)."""
    state.debug, state.quiet, state.verbose = debug, quiet, verbose


app.command("train")(train.train)
app.command("generate")(generate.generate)
app.command("reconstruct")(reconstruct.reconstruct)
app.command("encode")(encode.encode)
app.command("decode")(decode.decode)
app.command("interpolate")(interpolate.interpolate)
app.command("edit")(edit.edit)
app.command("predict")(predict.predict)


def main() -> None:
    """Console entry point: usage errors become one ``eddpm: error:`` line plus a hint."""
    from typer.exceptions import TyperException

    from eddpm_cli._errors import ExitCode, _silence_stdout, interrupted, raise_on_sigterm

    raise_on_sigterm()
    try:
        code = app(standalone_mode=False)
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(0)
    except TyperException as exc:
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "eddpm"
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        message = message.replace("Value error, ", "")  # the validator's prefix, not ours
        sys.stderr.write(f"eddpm: error: {message}\nhint: see '{command} --help'\n")
        sys.exit(int(getattr(exc, "exit_code", ExitCode.USAGE)) or int(ExitCode.USAGE))
    except KeyboardInterrupt as exc:
        sys.exit(interrupted(exc))
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
