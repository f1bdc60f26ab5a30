"""The storage layer: the only code that speaks SQL, and the FAISS cache kept beside it.

    schema.py       tables, row states, metadata keys (types, not strings), the schema version
    migrations.py   upgrades of index folders written by older releases, step by step
    database.py     the engine: WAL, fsync, SQLite's damage and full-disk errors as IndexStoreError
    records.py      the dataclasses it takes and returns (no ORM objects leave the layer)
    index_store.py  IndexStore: every read and write, named for what it does
    vectors.py      the FAISS file: a checksummed cache of SQLite's vectors, replayed and rebuilt
    verify.py       `indexer verify [--repair]`;  backup.py  `indexer backup DEST`

Importing this package imports neither torch nor faiss (vectors.py, imported by name, needs faiss).
"""

from .index_store import IndexStore
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
from .schema import DATABASE_FILE, SCHEMA_VERSION, MetaKey, RowState

__all__ = [
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
