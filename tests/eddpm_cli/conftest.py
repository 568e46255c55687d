"""Helpers for the CLI tests: invoke the Typer app in-process and check the stream contracts.

Every CLI test checks stdout (data), stderr (messages) and the exit code separately. Errors
follow ../shared/cases/README.md: exit 2, one ``eddpm: error:`` line on stderr, no traceback,
and 0 bytes on stdout.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from eddpm_cli.app import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Three short reviews in the style of examples/reviews.txt (no labels), used as inputs.
SAMPLE_TEXTS = [
    "the soup was warm and the bread was fresh .",
    "service was slow but the staff were kind .",
    "the room was clean and quiet .",
]


class Cli:
    """Run ``eddpm`` in-process and check its streams."""

    def __call__(self, *args: object, input: bytes | str | None = None) -> Result:
        """Invoke ``eddpm ARGS`` (each arg converted with ``str``) and return the result."""
        return CliRunner().invoke(app, [str(a) for a in args], input=input)

    @staticmethod
    def ok(result: Result) -> Result:
        """Assert exit 0 with no error line; show stderr when it failed."""
        assert result.exit_code == 0, f"exit {result.exit_code}\nstderr:\n{result.stderr}"
        assert "eddpm: error:" not in result.stderr
        return result

    @staticmethod
    def lines(result: Result) -> list[str]:
        """stdout split at ``\\n`` only: one entry per result line (a sample may hold ``\\r``)."""
        text = result.stdout_bytes.decode("utf-8", "replace")
        assert text.endswith("\n"), f"stdout does not end with a newline: {text!r}"
        return text[:-1].split("\n")

    @staticmethod
    def usage_error(result: Result, *fragments: str) -> str:
        """Assert the error contract (exit 2, one error line, empty stdout); return the line."""
        assert result.exit_code == 2, f"exit {result.exit_code}\nstderr:\n{result.stderr}"
        assert result.stdout_bytes == b"", f"stdout not empty on error: {result.stdout_bytes!r}"
        errors = [ln for ln in result.stderr.splitlines() if ln.startswith("eddpm: error:")]
        assert len(errors) == 1, f"expected one error line, got:\n{result.stderr}"
        assert "Traceback" not in result.stderr
        for fragment in fragments:
            assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"
        return errors[0]


def review_texts(path: Path, n: int) -> Path:
    """Write the first ``n`` reviews of examples/reviews.txt to ``path``, text only (no labels)."""
    lines = (EXAMPLES / "reviews.txt").read_text(encoding="utf-8").splitlines()
    path.write_text("".join(ln.split("\t", 1)[1] + "\n" for ln in lines[:n]), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def cli() -> Cli:
    return Cli()


@pytest.fixture
def sample_texts() -> list[str]:
    return list(SAMPLE_TEXTS)


@pytest.fixture
def texts_file(tmp_path: Path) -> Path:
    """A text file with :data:`SAMPLE_TEXTS`, one per line."""
    path = tmp_path / "texts.txt"
    path.write_text("".join(t + "\n" for t in SAMPLE_TEXTS), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def latent_dim(tiny_text_model: Path) -> int:
    """D of the session's tiny model, read from its config.json."""
    config = json.loads((tiny_text_model / "config.json").read_text(encoding="utf-8"))
    return int(config["prior"]["latent_dim"])
