"""Exit codes and the one place where exceptions become ``eddpm: error:`` lines."""

from __future__ import annotations

import errno
import functools
import sys
from enum import IntEnum
from typing import Any, Callable, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])


class ExitCode(IntEnum):
    """Process exit statuses (docs/cli.md explains what to do about each)."""

    OK = 0
    FAILURE = 1  # unexpected runtime failure: rerun with --debug and report it
    USAGE = 2  # bad option, bad input data or unusable checkpoint
    NON_FINITE = 3  # training loss became NaN/inf
    INTERRUPTED = 130  # Ctrl-C
    TERMINATED = 143  # SIGTERM (timeout, kill, a scheduler)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same clean-up runs (temporary files, partial
    outputs, a training checkpoint)."""


def interrupted(exc: KeyboardInterrupt) -> int:
    """Say that Ctrl-C or SIGTERM stopped the command (once per launch); its exit status."""
    term = isinstance(exc, Terminated)
    if not state.other_process:
        sys.stderr.write("eddpm: terminated\n" if term else "eddpm: interrupted\n")
    return int(ExitCode.TERMINATED if term else ExitCode.INTERRUPTED)


def raise_on_sigterm() -> None:
    """Turn SIGTERM into :class:`Terminated` in this (main) thread."""
    import signal

    def terminated(signum, frame) -> None:
        raise Terminated

    signal.signal(signal.SIGTERM, terminated)


class _State:
    debug = False
    quiet = False
    verbose = False
    # A process other than the main one of a multi-process launch: the main process reports
    # the errors they all meet (bad options, bad data); each reports only its own failures.
    other_process = False


state = _State()


def fail(message: str, hint: str | None = None, code: int = ExitCode.USAGE) -> typer.Exit:
    """Print one error line (and a hint line) on stderr and return the Exit to raise.

    Usage errors are printed by the main process of a launch only: every process meets them."""
    if not (state.other_process and code == ExitCode.USAGE):
        sys.stderr.write(f"eddpm: error: {message}\n")
        if hint:
            sys.stderr.write(f"hint: {hint}\n")
        sys.stderr.flush()
    return typer.Exit(code=int(code))


# How gloo and NCCL report that a peer of a collective is gone.
_PEER_LOST = ("Connection closed by peer", "Connection reset by peer", "Broken pipe",
              "remote process exited", "NCCL communicator was aborted")


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _peer_lost(exc: Exception) -> bool:
    """A collective failed because another process of the launch stopped."""
    return (isinstance(exc, RuntimeError) and "torch.distributed" in sys.modules
            and any(text in str(exc) for text in _PEER_LOST))


def handle_errors(func: F) -> F:
    """Wrap a subcommand: known errors become one line and their exit code; a traceback only
    with --debug; Ctrl-C exits 130; a closed downstream pipe ends quietly."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from models.errors import EddpmError

        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except EddpmError as exc:
            if state.debug:
                raise
            raise fail(exc.message, exc.hint, exc.exit_code) from None
        except KeyboardInterrupt as exc:
            raise typer.Exit(code=interrupted(exc)) from None
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(code=int(ExitCode.OK)) from None
        except Exception as exc:  # noqa: BLE001 - last resort, turned into one line
            if state.debug:
                raise
            if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
                where = exc.filename or "the output"
                raise fail(f"cannot write {where}: {exc.strerror}",
                           hint="free some space, or write the output elsewhere",
                           code=ExitCode.FAILURE) from None
            if type(exc).__name__ in ("InductorError", "BackendCompilerFailed"):
                first = next((ln for ln in str(exc).splitlines() if ln.strip()), "")
                raise fail(f"--compile failed: {first.strip()}",
                           hint="torch.compile needs a working C++ compiler (g++); or drop "
                                "--compile", code=ExitCode.USAGE) from None
            if _peer_lost(exc):  # the process that stopped has said why
                if state.other_process:
                    raise typer.Exit(code=int(ExitCode.FAILURE)) from None
                raise fail("another process of this run stopped (see its error above)",
                           code=ExitCode.FAILURE) from None
            raise fail(
                f"unexpected {type(exc).__name__}: {exc}",
                hint="rerun with --debug for the traceback and report it",
                code=ExitCode.FAILURE,
            ) from None

    return wrapper  # type: ignore[return-value]


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush stays quiet."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
