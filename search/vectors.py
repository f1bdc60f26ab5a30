"""The FAISS side of an index: a cache of the vectors in SQLite, keyed by image row id.

The file `vectors-<seq>.faiss` holds every indexed row changed at or before `seq`. Opening it
replays the rows changed after `seq` (upsert = remove the id, add it again; deletions from the
`removed` table), so a crash between writing the file and recording it in SQLite costs nothing:
the replay is idempotent. A missing or unreadable file is rebuilt from SQLite.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from .store import INDEXED, ImageRow, Removed, current_seq, get_meta, set_meta

log = logging.getLogger(__name__)

FAISS_FILE_KEY = "faiss_file"
FAISS_SEQ_KEY = "faiss_seq"
REPLAY_CHUNK_ROWS = 50_000


@dataclass
class VectorIndex:
    index: faiss.Index  # IndexIDMap2 over inner product: ids are image row ids
    seq: int  # every change up to this counter is in `index`

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)


def empty_index(dim: int) -> faiss.Index:
    # IDMap2 (not IDMap) so that verify can read a vector back by id and compare it with SQLite.
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def _apply_rows(index: faiss.Index, rows: list[tuple[int, bytes | None, str]], dim: int) -> None:
    ids = np.array([row[0] for row in rows], dtype=np.int64)
    if len(ids):
        index.remove_ids(ids)  # upsert: an id replayed twice must not appear twice
    live = [(i, vector) for i, vector, state in rows if state == INDEXED and vector is not None]
    if live:
        vectors = np.stack([np.frombuffer(v, dtype=np.float32) for _, v in live])  # (n, dim)
        if vectors.shape[1] != dim:
            raise ValueError(f"vector of dim {vectors.shape[1]} in an index of dim {dim}")
        index.add_with_ids(vectors, np.array([i for i, _ in live], dtype=np.int64))


def catch_up(session: Session, vectors: VectorIndex, dim: int) -> VectorIndex:
    """Apply every row and removal with seq > vectors.seq; returns the index at the current seq."""
    target = current_seq(session)
    if target == vectors.seq:
        return vectors
    removed = session.scalars(select(Removed.id).where(Removed.seq > vectors.seq)).all()
    if removed:
        vectors.index.remove_ids(np.array(removed, dtype=np.int64))
    last_id = 0
    while True:  # in chunks: a first build replays up to every row of a large collection
        rows = session.execute(
            select(ImageRow.id, ImageRow.vector, ImageRow.state)
            .where(ImageRow.seq > vectors.seq, ImageRow.id > last_id)
            .order_by(ImageRow.id)
            .limit(REPLAY_CHUNK_ROWS)
        ).all()
        if not rows:
            break
        _apply_rows(vectors.index, [tuple(r) for r in rows], dim)
        last_id = rows[-1][0]
    return VectorIndex(vectors.index, target)


def load_vectors(folder: Path, session: Session, dim: int) -> VectorIndex:
    """The recorded FAISS file brought up to date with SQLite; rebuilt from SQLite when absent or broken."""
    name = get_meta(session, FAISS_FILE_KEY)
    seq = int(get_meta(session, FAISS_SEQ_KEY) or 0)
    vectors = VectorIndex(empty_index(dim), 0)
    if name:
        try:
            index = faiss.read_index(str(Path(folder) / name))
            if index.d != dim:
                raise RuntimeError(f"dimension {index.d}, expected {dim}")
            vectors = VectorIndex(index, seq)
        except RuntimeError as exc:  # faiss reports I/O and format errors as RuntimeError
            log.warning("rebuilding the vector index from SQLite: %s unreadable (%s)", name, exc)
    return catch_up(session, vectors, dim)


def _fsync_folder(folder: Path) -> None:
    if os.name == "posix":
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def save_vectors(folder: Path, session: Session, vectors: VectorIndex) -> str:
    """Write the index as vectors-<seq>.faiss (temp file, fsync, rename, fsync the folder) and
    record it in SQLite; the caller commits, then removes older files with remove_stale_files."""
    folder = Path(folder)
    name = f"vectors-{vectors.seq:012d}.faiss"
    handle, temp = tempfile.mkstemp(dir=folder, prefix=".vectors-", suffix=".tmp")
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)  # mkstemp makes it private; the index is as readable as the folder
    try:
        faiss.write_index(vectors.index, temp)
        with open(temp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temp, folder / name)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_folder(folder)
    set_meta(session, FAISS_FILE_KEY, name)
    set_meta(session, FAISS_SEQ_KEY, str(vectors.seq))
    return name


def remove_stale_files(folder: Path, keep: str | None) -> None:
    """Delete FAISS files other than `keep` (and temp files of an interrupted write)."""
    for path in Path(folder).glob("vectors-*.faiss"):
        if path.name != keep:
            path.unlink(missing_ok=True)
    for path in Path(folder).glob(".vectors-*.tmp"):
        path.unlink(missing_ok=True)
