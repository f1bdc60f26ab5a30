"""index.sqlite: the engine, its settings, and SQLite's failures turned into IndexStoreError.

SQLite is the index's source of truth (rows, metadata and every vector); the FAISS file is a cache
of it. WAL mode lets readers see the last commit while a build writes.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, ExceptionContext

from ..errors import IndexStoreError, StoreProblem
from .schema import DATABASE_FILE

BUSY_TIMEOUT_MS = 30_000
_SQLITE_DAMAGE_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers see the last commit while a build writes
    cursor.execute("PRAGMA synchronous=FULL")  # a commit survives power loss, not only a crash
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def damaged_message(path: Path, cause: str) -> str:
    folder = path.parent
    return (
        f"{path} is damaged ({cause}); nothing in it can be trusted. Restore it from a copy made by "
        f"`python -m indexer backup`, or move the folder {folder} aside and build the index again: "
        f"python -m indexer build PHOTOS --index {folder}"
    )


def _error_translator(path: Path):
    """SQLite's damage and full-disk errors, wherever they surface, as messages that name the file."""

    def translate(context: ExceptionContext) -> None:
        original = context.original_exception
        code = getattr(original, "sqlite_errorcode", None)
        if code is None:
            return
        primary = code & 0xFF  # extended codes keep the primary one in the low byte
        if primary in _SQLITE_DAMAGE_CODES:
            raise IndexStoreError(damaged_message(path, str(original)), StoreProblem.DAMAGED) from None
        if primary == sqlite3.SQLITE_FULL:
            raise IndexStoreError(
                f"The disk holding {path} is full. Everything committed before is intact; free some space "
                "and run the same command again to continue.",
                StoreProblem.DISK_FULL,
            ) from None

    return translate


def create_database_engine(folder: Path, *, create: bool) -> Engine:
    """An engine on folder/index.sqlite; the file must exist unless `create`."""
    path = Path(folder) / DATABASE_FILE
    if not path.exists() and not create:
        raise IndexStoreError(
            f"No index in {folder} (no {DATABASE_FILE}). "
            f"Build one with: python -m indexer build PHOTOS --index {folder}",
            StoreProblem.NO_INDEX,
        )
    Path(folder).mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "handle_error", _error_translator(path))
    return engine
