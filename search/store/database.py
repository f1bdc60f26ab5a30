"""index.sqlite: the engine, its settings, and SQLite's failures turned into IndexStoreError.

SQLite is the index's source of truth (rows, metadata and every vector); the FAISS file is a cache
of it. WAL mode lets readers see the last commit while a build writes.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, ExceptionContext

from ..commands import indexer_command
from ..errors import IndexStoreError, StoreProblem
from ..i18n import _
from .health import damaged_message, index_folder_error, not_a_folder_message, torn_file_cause, translated
from .layout import BUSY_TIMEOUT_MS, DATABASE_FILE


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers see the last commit while a build writes
    cursor.execute("PRAGMA synchronous=FULL")  # a commit survives power loss, not only a crash
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _error_translator(path: Path):
    """SQLite's damage and full-disk errors, wherever they surface, as messages that name the file."""

    def translate(context: ExceptionContext) -> None:
        error = translated(context.original_exception, path)
        if error is not None:
            raise error from None

    return translate


def create_database_engine(folder: Path, *, create: bool) -> Engine:
    """An engine on folder/index.sqlite; the file must exist unless `create`."""
    path = Path(folder) / DATABASE_FILE
    not_a_folder = not_a_folder_message(Path(folder))
    if not_a_folder is not None:
        raise IndexStoreError(not_a_folder, StoreProblem.NO_INDEX)
    try:
        exists = path.exists()
    except OSError as exc:  # a folder without read or search permission
        raise index_folder_error(Path(folder), exc, "read") from None
    if not exists and not create:
        raise IndexStoreError(
            _(
                "No index in {folder} (no {DATABASE_FILE}). Build one with: {value} build PHOTOS --index {folder}"
            ).format(folder=folder, DATABASE_FILE=DATABASE_FILE, value=indexer_command()),
            StoreProblem.NO_INDEX,
        )
    torn = torn_file_cause(path)
    if torn is not None:
        raise IndexStoreError(damaged_message(path, torn), StoreProblem.DAMAGED)
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise index_folder_error(Path(folder), exc) from None
    engine = create_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "handle_error", _error_translator(path))
    return engine
