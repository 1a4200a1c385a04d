"""dcsweep's installed version (``dcsweep --version``, and the code version of a sweep run outside git)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "dcsweep"


def package_version() -> str:
    """The installed dcsweep version, or 'unknown' when run from a checkout that is not installed."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"
