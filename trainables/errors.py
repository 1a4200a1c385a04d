"""User-facing errors: one sentence that names the problem and the fix."""


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
