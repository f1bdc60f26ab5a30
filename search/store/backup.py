"""`python -m indexer backup DEST`: a consistent copy of index.sqlite, the one file that holds
everything (rows, metadata, vectors; the FAISS file is rebuilt from it), while a build may run."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ..errors import IndexStoreError, StoreProblem
from .index_store import IndexStore
from .schema import DATABASE_FILE


def backup_index(folder: Path, destination: Path) -> Path:
    """Copy folder/index.sqlite to `destination` (a file, or a folder to put index.sqlite in).

    The copy opens as an index by itself: put it in an empty folder as index.sqlite and search it
    (the FAISS file is rebuilt from it on open).
    """
    destination = Path(destination)
    if destination.is_dir() or str(destination).endswith(os.sep):
        destination = destination / DATABASE_FILE
    if destination.resolve() == (Path(folder) / DATABASE_FILE).resolve():
        raise IndexStoreError(f"{destination} is the index itself; choose another place.", StoreProblem.BACKUP_FAILED)
    destination.parent.mkdir(parents=True, exist_ok=True)
    store = IndexStore(folder)
    try:
        store.backup_to(destination)
    except (OSError, sqlite3.Error) as exc:
        raise IndexStoreError(
            f"Could not write the backup {destination}: {exc}. Nothing in the index was changed.",
            StoreProblem.BACKUP_FAILED,
        ) from None
    finally:
        store.close()
    return destination
