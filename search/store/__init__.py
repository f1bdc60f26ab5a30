"""The storage layer: the only code that speaks SQL, and the FAISS cache kept beside it.

    layout.py       what index.sqlite holds, by name: row states, metadata keys, schema version
    schema.py       the tables (SQLAlchemy ORM)
    migrations.py   upgrades of index folders written by older releases, step by step
    database.py     the engine: WAL, fsync, SQLite's damage and full-disk errors as IndexStoreError
    health.py       signs of damage and a full disk, checksums, the messages that say the way back
    lock.py         one writer per index folder (a build, or verify)
    records.py      the dataclasses it takes and returns (no ORM objects leave the layer)
    index_store.py  IndexStore: every read and write, named for what it does
    reads.py        IndexReads: the reads a build starts with, which Catalog and IndexStore both implement
    labels.py       LabelStore (IndexStore.labels): tags and categories, their vectors, scores, examples
    catalog.py      the quick path: an indexer run's first reads through sqlite3 alone
    vectors.py      the FAISS file: a checksummed cache of SQLite's vectors, replayed and rebuilt
    verify.py       `indexer verify [--repair]`;  backup.py  `indexer backup DEST`

Names are imported on first use: `from search.store import KnownRow` costs no SQLAlchemy, and
nothing here imports torch; vectors.py (imported by name) needs faiss.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

_EXPORTS = {
    "DATABASE_FILE": "layout",
    "SCHEMA_VERSION": "layout",
    "MetaKey": "layout",
    "RowState": "layout",
    "FailedImage": "records",
    "Failure": "records",
    "HitRow": "records",
    "IndexStats": "records",
    "IndexedImage": "records",
    "KnownRow": "records",
    "ModelRecord": "records",
    "VectorFileRecord": "records",
    "IndexStore": "index_store",
    "CategoryRecord": "labels",
    "TagCount": "labels",
}
__all__ = [
    "CategoryRecord",
    "TagCount",
    "DATABASE_FILE",
    "SCHEMA_VERSION",
    "FailedImage",
    "Failure",
    "HitRow",
    "IndexStats",
    "IndexStore",
    "IndexedImage",
    "KnownRow",
    "MetaKey",
    "ModelRecord",
    "RowState",
    "VectorFileRecord",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:
    from .index_store import IndexStore
    from .labels import CategoryRecord, TagCount
    from .layout import DATABASE_FILE, SCHEMA_VERSION, MetaKey, RowState
    from .records import (
        FailedImage,
        Failure,
        HitRow,
        IndexedImage,
        IndexStats,
        KnownRow,
        ModelRecord,
        VectorFileRecord,
    )
