"""Find a dataset's files under its root; explain the expected layout when they are missing."""

from __future__ import annotations

from pathlib import Path

from trainables.errors import DataError


def locate_folder(root: Path, folder: str) -> Path | None:
    """``root/folder``, or ``root`` itself when it is that folder; None when neither exists."""
    if (root / folder).is_dir():
        return root / folder
    if root.name == folder and root.is_dir():
        return root
    return None


def require_folder(root: Path, folder: str, layout: str) -> Path:
    """Like ``locate_folder`` but raises DataError naming the layout when the folder is missing."""
    found = locate_folder(root, folder)
    if found is None:
        raise DataError(f"{root / folder} is missing; lay out dataset.root ({root}) as {layout}")
    return found


def require_file(path: Path, root: Path, layout: str) -> Path:
    """``path`` if it is a file, else DataError naming the layout expected under ``root``."""
    if not path.is_file():
        raise DataError(f"{path} is missing; lay out dataset.root ({root}) as {layout}")
    return path
