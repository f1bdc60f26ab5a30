"""The index's source of truth: SQLite (through SQLAlchemy 2.0, WAL) with one row per file seen.

Rows hold the path, size, mtime, content hash, state (indexed / failed with a reason), image
metadata and, for indexed rows, the unit vector itself. `seq` numbers every change so that the
FAISS file (a cache, see vectors.py) can catch up with rows changed after it was written;
`removed` keeps the ids deleted since, for the same reason.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    bindparam,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from .errors import IndexStoreError

DATABASE_FILE = "index.sqlite"
SCHEMA_VERSION = 1

INDEXED, FAILED = "indexed", "failed"
LAST_BUILD_KEY = "last_build_finished"  # meta: ISO time (UTC) at which the last build ended


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
    state: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(String)  # a failure's group: "not a readable image", ...
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

    def vector_array(self) -> npt.NDArray[np.float32]:
        assert self.vector is not None
        return np.frombuffer(self.vector, dtype=np.float32)


class Removed(Base):
    """Ids deleted at a change counter: the FAISS file drops them when it catches up."""

    __tablename__ = "removed"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, index=True)


class Meta(Base):
    """Key/value facts of the index: model, fingerprint, dim, the FAISS file and the change counter."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str] = mapped_column(String)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers see the last commit while a build writes
    cursor.execute("PRAGMA synchronous=FULL")  # a commit survives power loss, not only a crash
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def open_database(folder: Path, *, create: bool) -> sessionmaker[Session]:
    """A session factory on folder/index.sqlite; creates the schema when `create`."""
    path = Path(folder) / DATABASE_FILE
    if not path.exists() and not create:
        raise IndexStoreError(
            f"No index in {folder} (no {DATABASE_FILE}). "
            f"Build one with: python -m indexer build PHOTOS --index {folder}"
        )
    Path(folder).mkdir(parents=True, exist_ok=True)
    engine: Engine = create_engine(f"sqlite:///{path}", future=True)
    event.listen(engine, "connect", _sqlite_pragmas)
    if create:
        Base.metadata.create_all(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory.begin() as session:
        version = get_meta(session, "schema_version")
        if version is None and create:
            set_meta(session, "schema_version", str(SCHEMA_VERSION))
        elif version is not None and int(version) > SCHEMA_VERSION:
            raise IndexStoreError(
                f"{path} was written by a newer version of this program (schema {version}); update it."
            )
    return factory


def get_meta(session: Session, key: str) -> str | None:
    row = session.get(Meta, key)
    return None if row is None else row.value


def set_meta(session: Session, key: str, value: str) -> None:
    session.merge(Meta(key=key, value=value))


def next_seq(session: Session) -> int:
    """Advance and return the change counter (inside the caller's transaction)."""
    value = int(get_meta(session, "seq") or 0) + 1
    set_meta(session, "seq", str(value))
    return value


def current_seq(session: Session) -> int:
    return int(get_meta(session, "seq") or 0)


# The reads every search makes, as prebuilt Core statements for a plain connection: an ORM Session
# costs ~1 ms of Python per use, these ~0.1-0.25 ms (a query's whole budget is ~30 ms).
_SEQ_STATEMENT = select(Meta.value).where(Meta.key == "seq")
_HIT_STATEMENT = select(
    ImageRow.id, ImageRow.path, ImageRow.width, ImageRow.height, ImageRow.taken_at, ImageRow.camera
).where(ImageRow.id.in_(bindparam("ids", expanding=True)), ImageRow.state == INDEXED)


def engine_of(factory: sessionmaker[Session]) -> Engine:
    return factory.kw["bind"]


def read_seq(connection: Connection) -> int:
    """current_seq without a Session."""
    return int(connection.execute(_SEQ_STATEMENT).scalar() or 0)


def hit_rows(connection: Connection, ids: list[int]) -> dict[int, Row]:
    """id -> (id, path, width, height, taken_at, camera) of those ids that are indexed."""
    return {row.id: row for row in connection.execute(_HIT_STATEMENT, {"ids": ids})}


def root_row(session: Session, root: Path) -> Root:
    row = session.scalar(select(Root).where(Root.path == str(root)))
    if row is None:
        row = Root(path=str(root))
        session.add(row)
        session.flush()
    return row


def count_indexed(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ImageRow).where(ImageRow.state == INDEXED)) or 0
