"""The quick path: what an indexer run reads before it knows whether there is anything to do,
through the standard library's sqlite3 instead of SQLAlchemy.

An unchanged re-run must start in a fraction of a second, and importing SQLAlchemy (with numpy)
alone costs more than that on a small machine. So the planner's reads (the model record, the known
rows of a folder, whether the FAISS file is current) and the one write of an unchanged run (the
time it finished) go through this read-mostly view; everything else goes through IndexStore.
It opens only databases at the current schema version: anything else (absent, older, newer,
damaged) is left to IndexStore, which upgrades it or explains what is wrong.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from ..errors import RETRIED_PROBLEMS
from .health import torn_file_cause, translated
from .layout import BUSY_TIMEOUT_MS, DATABASE_FILE, SCHEMA_VERSION, MetaKey, RowState
from .records import KnownRow, ModelRecord, VectorFileRecord


class Catalog:
    """The reads of search.store.reads.IndexReads through sqlite3 alone (IndexStore has the same)."""

    def __init__(self, connection: sqlite3.Connection, path: Path):
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, folder: Path) -> Catalog | None:
        """The catalog of folder/index.sqlite, or None when IndexStore must open it instead."""
        path = Path(folder) / DATABASE_FILE
        if not path.is_file() or torn_file_cause(path) is not None:
            return None
        try:
            connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error:
            return None  # IndexStore says what is wrong with it
        try:
            connection.execute("PRAGMA synchronous=FULL")  # as IndexStore's connections: a commit survives power loss
            version = connection.execute(
                "SELECT value FROM meta WHERE key = ?", (MetaKey.SCHEMA_VERSION.value,)
            ).fetchone()
        except sqlite3.Error:
            connection.close()
            return None  # damaged, or no index tables: IndexStore says what is wrong with it
        if version is None or version[0] != str(SCHEMA_VERSION):
            connection.close()
            return None  # an older schema (IndexStore upgrades it) or a newer one (it refuses)
        return cls(connection, path)

    def close(self) -> None:
        self._db.close()

    def _query(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        """Every row of a statement; damage and a full disk become IndexStoreError, as in IndexStore."""
        try:
            return self._db.execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            error = translated(exc, self.path)
            if error is None:
                raise
            raise error from None

    def _meta(self) -> dict[str, str]:
        """The whole metadata table, key -> value (a dozen rows)."""
        return dict(self._query("SELECT key, value FROM meta"))

    def model_record(self) -> ModelRecord | None:
        return ModelRecord.from_meta(self._meta())

    def weights_stat(self) -> str | None:
        return self._meta().get(MetaKey.MODEL_WEIGHTS_STAT)

    def record_weights_stat(self, stat_key: str) -> None:
        self._set(MetaKey.MODEL_WEIGHTS_STAT, stat_key)

    def known_root_id(self, root: Path) -> int | None:
        """The id of a photo folder the index knows (None: never built from it)."""
        rows = self._query("SELECT id FROM roots WHERE path = ?", (str(root),))
        return rows[0][0] if rows else None

    def known_rows(self, root_id: int) -> dict[bytes, KnownRow]:
        """Every file the index knows under a photo folder, by path (as IndexStore.known_rows)."""
        retried = ", ".join("?" * len(RETRIED_PROBLEMS))
        rows = self._query(
            "SELECT id, path, size, mtime_ns, state != ?, content_hash, "
            f"state = ? AND reason IN ({retried}), state = ? AND picture_print IS NULL FROM images WHERE root_id = ?",
            (RowState.FAILED.value, RowState.FAILED.value, *sorted(RETRIED_PROBLEMS), RowState.INDEXED.value, root_id),
        )
        return {row[1]: KnownRow._make(row) for row in rows}  # in the field order of the statement

    def vector_file_is_current(self) -> bool:
        """Whether the recorded FAISS file holds every committed change and is, by its size and
        mtime, the file that was written (a replaced one is checked and rewritten by the full path)."""
        meta = self._meta()
        record = VectorFileRecord.from_meta(meta)
        return record is not None and record.is_current(int(meta.get(MetaKey.CHANGE_COUNTER, 0)), self.path.parent)

    def labels_are_current(self, key: str) -> bool:
        """Whether every indexed photo has its tags and categories, made with this labels key."""
        meta = self._meta()
        seq = meta.get(MetaKey.LABELS_SEQ)
        return meta.get(MetaKey.LABELS_KEY) == key and seq == meta.get(MetaKey.CHANGE_COUNTER, "0")

    def texts_are_current(self, key: str) -> bool:
        """Whether every indexed photo this key's OCR mode asks for has been read with its engine."""
        meta = self._meta()
        seq = meta.get(MetaKey.TEXTS_SEQ)
        return meta.get(MetaKey.TEXTS_KEY) == key and seq == meta.get(MetaKey.CHANGE_COUNTER, "0")

    def count_indexed(self) -> int:
        return self._query("SELECT count(*) FROM images WHERE state = ?", (RowState.INDEXED.value,))[0][0]

    def record_build_finished(self, when: datetime | None = None) -> None:
        self._set(MetaKey.LAST_BUILD_FINISHED, (when or datetime.now(UTC)).isoformat(timespec="seconds"))

    def _set(self, key: MetaKey, value: str) -> None:
        self._query("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key.value, value))  # autocommit
