"""`python -m indexer backup DEST`: a consistent copy of index.sqlite, the one file that holds
everything (rows, metadata, vectors; the FAISS file is rebuilt from it), while a build may run."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ..commands import indexer_command
from ..errors import IndexStoreError, StoreProblem
from .index_store import IndexStore
from .schema import DATABASE_FILE


def backup_index(folder: Path, destination: str | os.PathLike[str]) -> Path:
    """Copy folder/index.sqlite to `destination` (a file, or a folder to put index.sqlite in).

    The copy opens as an index by itself: put it in an empty folder as index.sqlite and search it
    (the FAISS file is rebuilt from it on open).
    """
    as_typed = os.fspath(destination)
    destination = Path(as_typed).expanduser()
    if destination.is_dir() or as_typed.endswith(os.sep):  # a trailing slash: a folder, made if need be
        destination = destination / DATABASE_FILE
    _refuse_the_index_itself(Path(folder), destination)
    store = IndexStore(folder, migrate=False)  # a copy of what is there, not of an upgrade
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)  # a file in the way or no permission: said below
        store.backup_to(destination)
    except (OSError, sqlite3.Error) as exc:
        raise IndexStoreError(
            f"Could not write the backup {destination}: {exc}. Nothing in the index was changed; "
            "choose a DEST in a folder you can write.",
            StoreProblem.BACKUP_FAILED,
        ) from None
    finally:
        store.close()
    return destination


def _refuse_the_index_itself(folder: Path, destination: Path) -> None:
    """A copy written over index.sqlite, or over the WAL or shared-memory file beside it, would
    destroy what it copies (a replaced WAL loses the commits it holds)."""
    database = (folder / DATABASE_FILE).resolve()
    target = destination.resolve()
    own = {database} | {database.with_name(database.name + suffix) for suffix in ("-wal", "-shm", "-journal")}
    if target in own or (target.exists() and database.exists() and os.path.samefile(target, database)):
        raise IndexStoreError(
            f"{destination} is the index's own {target.name}; a backup must go elsewhere, e.g. "
            f"{indexer_command()} backup ~/index-backup.sqlite --index {folder}",
            StoreProblem.BACKUP_FAILED,
        )
