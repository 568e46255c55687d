"""Per-example random draws of the training objective that do not depend on how a batch is split.

In data-parallel training each process holds a part of one global batch. If every process drew
its noise and timesteps for its own part only, all of them (started from the same seed) would
draw the same values for different examples, and the run would differ from a one-process run
on the same global batch. Inside :func:`batch_share`, the helpers below instead draw for the
whole global batch, as one process would, and keep this process's rows. Outside it they are
exactly ``torch.randn_like`` and ``torch.randint``.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

import torch

# (rows of the global batch, this process's first row, step between its rows)
_share: ContextVar[tuple[int, int, int] | None] = ContextVar("eddpm_batch_share", default=None)


@contextmanager
def batch_share(total: int, start: int, stride: int) -> Iterator[None]:
    """Draw as for ``total`` examples and keep rows ``start, start + stride, ...``.

    Every process of a step must enter it with the same ``total`` and the same RNG state.
    """
    token = _share.set((total, start, stride))
    try:
        yield
    finally:
        _share.reset(token)


def _rows(full: torch.Tensor, n: int) -> torch.Tensor:
    total, start, stride = _share.get()  # type: ignore[misc]
    rows = full[start::stride][:n]
    if rows.shape[0] != n or total < n:
        raise RuntimeError(f"batch share ({total}, {start}, {stride}) has no {n} rows here")
    return rows.contiguous()


def randn_like(x: torch.Tensor) -> torch.Tensor:
    """Standard normal noise shaped like ``x`` (dim 0 indexes examples)."""
    share = _share.get()
    if share is None:
        return torch.randn_like(x)
    full = torch.randn((share[0], *x.shape[1:]), dtype=x.dtype, device=x.device)
    return _rows(full, x.shape[0])


def randint(high: int, n: int, device: torch.device | str) -> torch.Tensor:
    """``n`` integers drawn uniformly from ``[0, high)``: (n,)."""
    share = _share.get()
    if share is None:
        return torch.randint(0, high, (n,), device=device)
    return _rows(torch.randint(0, high, (share[0],), device=device), n)
