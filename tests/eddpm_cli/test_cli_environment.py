"""What the environment does to a command: signals, a full disk, devices PyTorch lacks.

Signals and stdout need a real process, so these tests run ``python -m eddpm_cli.app``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", EDDPM_PROGRESS="0",
               TMPDIR=str(tmp_path))
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    return env


def _eddpm(*args: object) -> list[str]:
    return [sys.executable, "-m", "eddpm_cli.app", *(str(a) for a in args)]


def test_sigterm_cleans_up_like_ctrl_c_and_exits_143(tiny_text_model: Path,
                                                     tmp_path: Path) -> None:
    """SIGTERM (timeout, kill, a scheduler) while stdin is being copied: the copy is removed,
    nothing is written, exit 143."""
    out = tmp_path / "out" / "emb.npz"
    out.parent.mkdir()
    proc = subprocess.Popen(_eddpm("encode", "-", "-m", tiny_text_model, "-o", out),
                            env=_env(tmp_path), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdin.write(b"the soup was warm .\n" * 1000)
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob("eddpm-stdin-*")):  # stdin is being copied (still open)
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)

    assert proc.returncode == 143, stderr
    assert stderr.decode().strip().endswith("eddpm: terminated")
    assert not list(tmp_path.glob("eddpm-stdin-*"))
    assert not list(out.parent.iterdir())


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_is_one_line_not_a_bug_report(tiny_text_model: Path,
                                                  tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("the soup was warm .\n" * 50, encoding="utf-8")
    with open("/dev/full", "wb") as full:
        done = subprocess.run(_eddpm("encode", texts, "-m", tiny_text_model), env=_env(tmp_path),
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)

    assert done.returncode == 1
    assert "No space left on device" in done.stderr
    assert "unexpected" not in done.stderr and "report it" not in done.stderr


@pytest.mark.parametrize("device", ["mps", "xpu", "meta", ""])
def test_a_device_this_pytorch_lacks_exits_2(cli, tiny_text_model: Path, device: str) -> None:
    result = cli("encode", "-", "-m", tiny_text_model, "--device", device,
                 input="the soup was warm .\n")

    cli.usage_error(result, "--device")


def test_quiet_keeps_the_metrics_that_were_asked_for(cli, tiny_text_model: Path) -> None:
    result = cli.ok(cli("-q", "reconstruct", "-", "-m", tiny_text_model, "--metrics",
                        input="the soup was warm .\nservice was slow .\n"))

    assert "reconstruction bleu=" in result.stderr
