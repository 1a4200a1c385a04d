"""The error a report raises for bad user input; the CLI turns it into a one-line message and exit code 2.

``reports`` depends on MLflow data only, so it does not import ``trainables.errors``; the ``report`` command
translates this error into ``DcsweepError``.
"""


class ReportError(Exception):
    """A sweep, tracking URI or report option the user named cannot be reported; the message names the fix."""
