"""Ctrl-C and SIGTERM during training: stop at a step boundary, and never inside a checkpoint.

A signal sets a request that the training loop reads at the end of each step (the processes of
a launch agree on it there); a checkpoint being written finishes before a signal takes effect. A
second signal stops at once, unless it follows the first within ``REPEATED_SIGNAL_S``, which is
how launchers pass a terminal's Ctrl-C on to processes that already received it.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

logger = logging.getLogger(__name__)

REPEATED_SIGNAL_S = 2.0  # a signal this soon after the first is the launcher's copy of it


def _first_signal_handler(on_first: Callable[[int], None]):
    """A SIGINT/SIGTERM handler that calls ``on_first`` for the first signal and raises
    KeyboardInterrupt for a later one. A repeat within ``REPEATED_SIGNAL_S`` is ignored:
    launchers (torchrun, accelerate launch) pass a terminal's Ctrl-C on to processes that have
    already received it."""
    first: list[float] = []

    def handler(signum, frame) -> None:
        now = time.monotonic()
        if first and now - first[0] > REPEATED_SIGNAL_S:
            raise KeyboardInterrupt
        if not first:
            first.append(now)
            on_first(signum)

    return handler


@contextmanager
def _signals_handled_by(handler) -> Iterator[dict[int, Any]]:
    """Route SIGINT and SIGTERM to ``handler`` within the block; yields the previous handlers
    (none outside the main thread, where signals cannot be handled)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield {}
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield previous
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def main_process_by_env() -> bool:
    """Whether this is the first process of a launch (or the only process), from the
    launcher's environment; usable before Accelerate is set up."""
    return os.environ.get("RANK", "") in ("", "0")


@contextmanager
def stop_at_step_boundary(requests: list[int], main: bool) -> Iterator[None]:
    """Within the block Ctrl-C (SIGINT) and SIGTERM append to ``requests`` instead of raising
    (the training loop then stops at its next step boundary and saves); another signal raises
    KeyboardInterrupt at once."""

    def request(signum: int) -> None:
        requests.append(signum)
        if main:
            logger.warning("interrupted: stopping after this step and saving a checkpoint "
                           "(Ctrl-C again to stop at once, without saving)")

    handler = _first_signal_handler(request)
    handler.stops_at_step_boundary = True
    with _signals_handled_by(handler):
        yield


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold back Ctrl-C and SIGTERM until the block is done, then raise KeyboardInterrupt (or,
    inside the training loop, ask it to stop at its step boundary); another signal raises at
    once (a process waiting for a dead peer would otherwise never stop)."""
    received: list[int] = []

    def hold(signum: int) -> None:
        received.append(signum)
        if main_process_by_env():
            logger.warning("interrupted while saving a checkpoint: finishing it first "
                           "(Ctrl-C again to stop at once)")

    with _signals_handled_by(_first_signal_handler(hold)) as previous:
        yield
    if received:
        outer = previous.get(received[0])
        if getattr(outer, "stops_at_step_boundary", False):
            outer(received[0], None)
        else:
            raise KeyboardInterrupt
