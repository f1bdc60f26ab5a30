"""A first build that fails before it commits a single image row (no model, offline, Ctrl-C while
the model loads) removes what it created, so that no half-made index folder is left behind."""

from __future__ import annotations

import gc
import os
import shutil
import traceback
from pathlib import Path

from search.store.health import database_holds_no_images
from search.store.layout import DATABASE_FILE
from search.store.lock import LOCK_FILE


class FirstBuildUndo:
    """What a build found of its index folder before it began, and the undoing of what it made.

    Made before the writer lock is taken (the lock makes the folder and its lock file), told
    `looked_under_lock()` once it holds the lock, and asked to `undo(exc)` when the build fails."""

    def __init__(self, index_dir: Path):
        self.index_dir = index_dir
        self.folders_made = _missing_folders(index_dir)
        self.lock_was_there = (index_dir / LOCK_FILE).exists()
        self.before: set[str] | None = None  # None: not a first build, nothing to undo

    def looked_under_lock(self) -> None:
        """Looked at under the lock: no other build is half-way through creating the index."""
        if not (self.index_dir / DATABASE_FILE).exists():
            self.before = _entries(self.index_dir, self.lock_was_there)

    def undo(self, exc: BaseException) -> None:
        """After a failed first build: remove what it created, unless it committed an image row."""
        if self.before is None:
            return
        _let_go_of_connections(exc)
        _discard_unfinished_first_build(self.index_dir, self.before, self.folders_made)


def _missing_folders(folder: Path) -> list[Path]:
    """`folder` and those of its parents that do not exist yet, deepest first (what mkdir -p makes)."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _entries(folder: Path, lock_was_there: bool) -> set[str]:
    """The names in the index folder that this run did not create (the lock file, if it just made it)."""
    names = set(os.listdir(folder))
    if not lock_was_there:
        names.discard(LOCK_FILE)
    return names


def _let_go_of_connections(exc: BaseException) -> None:
    """A Ctrl-C inside the opening of index.sqlite (say, while its connection is set up) leaves that
    connection alive in the traceback's frames, holding its lock on the new file, so the check below
    could not read it and the half-made folder stayed. The frames' variables are dropped and the
    connection collected (the message the user sees needs neither)."""
    traceback.clear_frames(exc.__traceback__)
    gc.collect()


def _discard_unfinished_first_build(index_dir: Path, before: set[str], folders_made: list[Path]) -> None:
    """Remove what a failed first build created, unless it committed an image row (then a re-run resumes
    from it). Only names that were not there before are removed, and only folders it made, once empty:
    a folder the user made stays, with whatever else they keep in it."""
    try:
        if not database_holds_no_images(index_dir):
            return
        for name in set(os.listdir(index_dir)) - before:
            path = index_dir / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        for folder in folders_made:
            folder.rmdir()  # deepest first; one that is not empty stops the climb
    except OSError:
        pass  # what could not be removed stays: the error being raised is the one the user must see
