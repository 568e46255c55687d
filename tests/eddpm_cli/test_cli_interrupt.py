"""Training that survives: Ctrl-C and kill -9 at random moments, in real ``eddpm`` processes.

These tests start ``python -m eddpm_cli.app train`` as a subprocess (signals cannot be tested
in-process), so each costs a few seconds of interpreter start-up. The default suite runs the short
form: three kills at seeded random moments; ``-m slow`` runs ten.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import review_texts

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_STEPS = 60
# Save often so that kills land before, during and between checkpoint writes.
CONFIG = {"train": {"save_every": 3, "eval_every": 1000}}


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", EDDPM_PROGRESS="0")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    return env


def _eddpm(*args: object) -> list[str]:
    return [sys.executable, "-m", "eddpm_cli.app", *(str(a) for a in args)]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """48 reviews of examples/reviews.txt, text only."""
    return review_texts(tmp_path / "reviews.txt", 48)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "save_often.json"
    path.write_text(json.dumps(CONFIG), encoding="utf-8")
    return path


def _train_args(data: Path, config: Path, out: Path) -> list[str]:
    return _eddpm("train", "--data", data, "--preset", "tiny", "--config", config,
                  "--max-steps", MAX_STEPS, "--seed", 0, "--out", out, "--force")


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Wait until ``path`` exists (training has started), failing if the process ends first."""
    end = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"eddpm ended with {proc.returncode} before {path.name} appeared:\n{err}")
        if time.monotonic() > end:
            proc.kill()
            pytest.fail(f"{path} did not appear within {timeout} s")
        time.sleep(0.05)


def _step(run: Path) -> int:
    """The step of the run's resumable state."""
    from models.checkpoint import load_state

    return int(load_state(run / "trainer")["step"])


def test_ctrl_c_saves_a_resumable_checkpoint_and_exits_130(data, config, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(_train_args(data, config, out), env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for(out / "metrics.jsonl", proc)  # the first checkpoint is written
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)

    assert proc.returncode == 130, stderr
    assert stdout == ""
    assert "Traceback" not in stderr
    assert f"resume with: eddpm train --resume {out}" in stderr
    step = _step(out)
    assert 0 < step < MAX_STEPS
    done = subprocess.run(_eddpm("train", "--resume", out), env=_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"resuming {out} at step {step}" in done.stderr
    assert _step(out) == MAX_STEPS


def _kill_and_resume(data: Path, config: Path, out: Path, kills: int, seed: int) -> None:
    """Kill ``eddpm train`` with SIGKILL at ``kills`` random moments, resuming after each,
    then let it finish; every resume must start from an intact checkpoint."""
    rng = random.Random(seed)
    steps_seen = []
    cmd = _train_args(data, config, out)
    for _ in range(kills):
        proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        _wait_for(out / "metrics.jsonl", proc)
        time.sleep(rng.uniform(0.0, 1.5))
        proc.kill()
        _, stderr = proc.communicate(timeout=60)
        if proc.returncode == 0:  # finished before the kill: nothing left to interrupt
            break
        assert proc.returncode == -signal.SIGKILL, stderr
        steps_seen.append(_step(out))  # readable: the last checkpoint is whole
        cmd = _eddpm("train", "--resume", out)
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert _step(out) == MAX_STEPS
    assert steps_seen == sorted(steps_seen)  # each run went on from where the last one saved
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary leftovers
    generated = subprocess.run(_eddpm("generate", "--model", out, "-n", 2, "--seed", 0),
                               env=_env(), capture_output=True, text=True, timeout=120)
    assert generated.returncode == 0, generated.stderr
    assert len(generated.stdout.splitlines()) == 2


def test_kill_9_at_random_moments_then_resume_to_the_end(data, config, tmp_path):
    _kill_and_resume(data, config, tmp_path / "run", kills=3, seed=1)


@pytest.mark.slow
def test_kill_9_at_many_random_moments(data, config, tmp_path):
    _kill_and_resume(data, config, tmp_path / "run", kills=10, seed=2)
