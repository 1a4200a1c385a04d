"""User-facing errors: one sentence that names the problem and the fix."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class DcsweepError(Exception):
    """An error the user can cause and fix; the CLI prints it on one line and exits 2."""


class ConfigError(DcsweepError, ValueError):
    """A config or spec value is invalid."""


class DataError(DcsweepError):
    """A dataset is missing, malformed or does not match its expected format."""


class CheckpointError(DcsweepError):
    """A checkpoint cannot be read or does not fit the encoder."""


class TrainingError(DcsweepError):
    """Training diverged (e.g. a NaN loss); the message names the epoch and the method."""


def describe_validation_error(error: ValidationError, prefix: str = "", whole: str = "") -> str:
    """One line naming the first bad key (after ``prefix``, e.g. "method.params."), the value and what is allowed.

    An error of the whole model (no key) is called ``whole``; when that is empty its message, which names the
    key itself, stands alone.
    """
    first = error.errors()[0]
    key = prefix + ".".join(str(part) for part in first["loc"]) if first["loc"] else whole
    message = first["msg"].removeprefix("Value error, ")
    if not key:
        return message
    if first["type"] == "extra_forbidden":
        return f"unknown key {key!r}; remove it or check its spelling"
    if first["type"] == "missing":
        return f"key {key!r} is missing; add it"
    shown = first.get("input")
    shown = shown if not isinstance(shown, dict | list) or len(repr(shown)) < 80 else type(shown).__name__
    return f"{key}: {message} (got {shown!r})"
