"""Shared fixtures: the ../shared data folder that sits next to the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared data folder ``../shared`` next to the repository root (skips when absent)."""
    path = REPO_ROOT.parent / "shared"
    if not path.is_dir():
        pytest.skip(
            "../shared not found: real-data and case tests need the shared data folder "
            "next to the checkout"
        )
    return path


@pytest.fixture(scope="session")
def cases_dir(shared_dir: Path) -> Path:
    """The input and failure cases described in ``../shared/cases/README.md``."""
    return shared_dir / "cases"
