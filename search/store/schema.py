"""The tables of index.sqlite (SQLAlchemy 2.0 ORM) and the types of what they hold.

One row per file seen (`images`), the photo folders (`roots`), the ids deleted since the FAISS file
was written (`removed`) and the index's facts (`meta`, keyed by `MetaKey`). SCHEMA_VERSION counts
layout changes; migrations.py upgrades older folders step by step.
"""

from __future__ import annotations

import os
from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

DATABASE_FILE = "index.sqlite"
SCHEMA_VERSION = 2


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
    LAST_BUILD_FINISHED = "last_build_finished"  # ISO time (UTC)


class Base(DeclarativeBase):
    pass


class Root(Base):
    """A photo folder this index was built from; the UI serves files from inside these only."""

    __tablename__ = "roots"
    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(String, unique=True)


class ImageRow(Base):
    __tablename__ = "images"
    # AUTOINCREMENT: a deleted photo's id is never handed to another one, so an id held by the UI,
    # a FAISS file or the `removed` table always means the same photo.
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(primary_key=True)
    root_id: Mapped[int] = mapped_column(ForeignKey("roots.id"), index=True)
    # Paths are stored as the file system's bytes: a Linux name need not be valid UTF-8.
    path: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    size: Mapped[int] = mapped_column(Integer)
    mtime_ns: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str | None] = mapped_column(String(32), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)  # a RowState
    reason: Mapped[str | None] = mapped_column(String)  # a failure's group (an ImageProblem value)
    detail: Mapped[str | None] = mapped_column(String)  # a failure's full message
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    taken_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    camera: Mapped[str | None] = mapped_column(String)
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)  # float32 × embed_dim, unit length
    seq: Mapped[int] = mapped_column(Integer, index=True)  # the change counter when last written

    @property
    def file_path(self) -> str:
        return os.fsdecode(self.path)


class Removed(Base):
    """Ids deleted at a change counter: the FAISS file drops them when it catches up."""

    __tablename__ = "removed"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, index=True)


class Meta(Base):
    """Key/value facts of the index (see MetaKey)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str] = mapped_column(String)
