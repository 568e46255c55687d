"""Exceptions raised by the model core.

Every error that a user can cause derives from :class:`EddpmError`. The CLI turns each one into a
single ``eddpm: error: ...`` line, an optional ``hint: ...`` line and an exit code; the core never
prints or exits.
"""

from __future__ import annotations


class EddpmError(Exception):
    """Base class for errors a user can act on.

    Args:
        message: what went wrong, naming the value received and what was expected.
        hint: optional next step for the user (a command or an option to try).
    """

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InputDataError(EddpmError):
    """The input data is unreadable or malformed (names the file, record, line and column)."""

    exit_code = 2


class UsageError(EddpmError):
    """Options conflict with each other, with the data or with the checkpoint."""

    exit_code = 2


class CheckpointError(EddpmError):
    """A checkpoint is missing, corrupt, foreign, or does not match the model it is loaded into."""

    exit_code = 2


class NonFiniteLossError(EddpmError):
    """Training produced a NaN or infinite loss; nothing non-finite was saved."""

    exit_code = 3
