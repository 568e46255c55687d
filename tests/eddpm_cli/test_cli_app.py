"""eddpm (root app): --help everywhere, and help stays fast because it never imports torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

SUBCOMMANDS = ["train", "generate", "reconstruct", "encode", "decode", "interpolate", "edit", "predict"]


def test_root_help_lists_every_subcommand(cli) -> None:
    result = cli("--help")

    assert result.exit_code == 0
    assert result.stdout.startswith("Usage:")
    for name in SUBCOMMANDS:
        assert name in result.stdout
    assert "eddpm: error:" not in result.stderr


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_subcommand_help_exits_0(cli, name: str) -> None:
    result = cli(name, "--help")

    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Usage:")
    assert name in result.stdout.splitlines()[0]


@pytest.mark.parametrize("args", [["--help"], ["encode", "--help"], ["train", "--help"]])
def test_help_does_not_import_torch(args: list[str]) -> None:
    script = (
        "import sys\n"
        "from eddpm_cli.app import app\n"
        f"code = app({args!r}, standalone_mode=False)\n"
        "assert code in (0, None), code\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )

    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout
