"""What index.sqlite holds, by name: its file name, schema version, row states, metadata keys and
index kinds.

Free of SQLAlchemy, so that the quick path (catalog.py) and the planner can use them.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

DATABASE_FILE = "index.sqlite"
SCHEMA_VERSION = 7
BUSY_TIMEOUT_MS = 30_000  # how long a connection waits for another's write to end


def connect_read_only(path: str | Path) -> sqlite3.Connection:
    """A stdlib connection that reads an index.sqlite and can write nothing (it waits for a writer
    as long as the store's own connections do)."""
    return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)


class RowState(StrEnum):
    INDEXED = "indexed"  # decoded and encoded: the row holds its vector, and the FAISS file has it
    # Byte for byte the same file as an indexed row (same content hash): the row keeps the vector too,
    # but the FAISS file holds only the indexed one, so that a photo kept in three folders is one
    # result ("also at ..."), not three. One row per content is indexed; the others are copies.
    COPY = "copy"
    # A camera RAW beside a picture of the same name (IMG_1.CR2 and IMG_1.JPG): shown as that picture,
    # listed with it; it keeps its vector and is a photo again if the picture goes.
    TWIN = "twin"
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
    # Tags and categories (schema 6): what the stored tag vectors and the photos' tags were made with
    # (the model, the vocabulary, the threshold: search/classify/tag_vocabulary.py labels_key), the
    # change counter up to which every indexed row has its tags and categories, and a counter raised
    # by every change of tags or categories (what a reader's cached lists are keyed by).
    LABELS_KEY = "labels_key"
    LABELS_SEQ = "labels_seq"
    LABELS_CHANGES = "labels_changes"
    TAG_SCALE = "tag_scale"  # the model's logit scale the tags' shares are computed at
    # Text in photos (schema 7): what the photos' recognised text was read with (the OCR engine's key
    # and the build's --ocr mode, search/ocr/engine.py) and the change counter up to which every
    # indexed row the mode asks for has been read or judged textless.
    TEXTS_KEY = "texts_key"
    TEXTS_SEQ = "texts_seq"
    TEXTS_CHANGES = "texts_changes"  # raised by every write of texts: what a reader's cached counts are keyed by
    HOLDS_RAW = "holds_raw"  # "1" once a camera RAW was written: only then are RAW twins looked for


# Index kind by collection size. Up to EXACT_SEARCH_LIMIT images an exact inner-product scan is
# fast enough (100 k × 512 floats = 200 MB read per query) and has perfect recall. Above it: IVF
# with 8-bit scalar quantisation, 512 B per 512-d vector (+ ~30 B of id and id map), and a query
# scans nprobe/nlist of them. HNSW was not chosen: its graph costs another ~260 B per image at M=32
# and builds for many minutes on 2 cores. Measured in BENCHMARKS.md.
EXACT_SEARCH_LIMIT = 100_000
IVF_MIN_LISTS, IVF_MAX_LISTS = 256, 16_384
FLAT_KIND = "flat-ip"


def ivf_lists_for(count: int) -> int:
    """IVF list count for `count` vectors: a power of two near 2·√count (2048 at 1 M)."""
    target = 2 * math.sqrt(max(count, 1))
    return int(min(IVF_MAX_LISTS, max(IVF_MIN_LISTS, 2 ** round(math.log2(target)))))


@dataclass(frozen=True)
class IndexKind:
    """Which FAISS index: an exact scan (ivf_lists None) or IVF with that many lists over SQ8 codes.
    Recorded in the metadata by its name ("flat-ip", "ivf2048-sq8")."""

    ivf_lists: int | None = None

    @property
    def name(self) -> str:
        return FLAT_KIND if self.ivf_lists is None else f"ivf{self.ivf_lists}-sq8"

    @property
    def exact(self) -> bool:
        return self.ivf_lists is None

    @classmethod
    def parse(cls, name: str) -> IndexKind:
        if name == FLAT_KIND:
            return cls()
        if name.startswith("ivf") and name.endswith("-sq8") and name[3:-4].isdigit():
            return cls(int(name[3:-4]))
        raise ValueError(f"unknown index kind {name!r}")

    @classmethod
    def for_count(cls, count: int) -> IndexKind:
        """The kind a collection of `count` images should have."""
        return cls() if count <= EXACT_SEARCH_LIMIT else cls(ivf_lists_for(count))
