"""What index.sqlite holds, by name: its file name, schema version, row states and metadata keys.

Free of SQLAlchemy, so that the quick path (catalog.py) and the planner can use them.
"""

from __future__ import annotations

from enum import StrEnum

DATABASE_FILE = "index.sqlite"
SCHEMA_VERSION = 2
BUSY_TIMEOUT_MS = 30_000  # how long a connection waits for another's write to end


class RowState(StrEnum):
    INDEXED = "indexed"  # decoded and encoded: the row holds its vector
    FAILED = "failed"  # could not be read: the row holds the reason and the message


class MetaKey(StrEnum):
    """The index's facts. A member, never a bare string: a misspelt key is an AttributeError."""

    SCHEMA_VERSION = "schema_version"
    CHANGE_COUNTER = "seq"  # grows with every committed change (rows written, renamed, deleted)
    MODEL_NAME = "model_name"
    MODEL_FINGERPRINT = "model_fingerprint"  # sha256 of the weights file that built the index
    MODEL_WEIGHTS_STAT = "model_weights_stat"  # path|size|mtime of that file, to skip re-hashing it
    EMBED_DIM = "embed_dim"
    INDEX_KIND = "index_type"  # IndexKind.name of the FAISS file
    VECTOR_FILE = "faiss_file"  # the FAISS file's name in the index folder
    VECTOR_FILE_SEQ = "faiss_seq"  # the change counter it holds every change up to
    VECTOR_FILE_BYTES = "faiss_bytes"  # what it was when written: size, sha256, vector count
    VECTOR_FILE_SHA256 = "faiss_sha256"
    VECTOR_FILE_COUNT = "faiss_count"
    VECTOR_FILE_MTIME = "faiss_mtime_ns"  # a file replaced or touched since is checked before it is trusted
    LAST_BUILD_FINISHED = "last_build_finished"  # ISO time (UTC)
