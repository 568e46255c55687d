"""Helpers shared by the benchmark scripts (run as ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import os


def thread_env(threads: int) -> dict[str, str]:
    """This process's environment for an eddpm command: offline, with ``threads`` math threads."""
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }


def require(*modules: str) -> None:
    """Exit at once, naming the missing ones, unless every module imports: a benchmark should
    not train for half an hour and then fail on its evaluation's imports."""
    import importlib.util
    import sys

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: install the benchmark extras with "
                 "pip install -e '.[bench]' (and matplotlib for the figures)")
