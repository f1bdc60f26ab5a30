"""The FAISS side of an index: a cache of the vectors in SQLite, keyed by image row id.

The file `vectors-<seq>.faiss` holds every indexed row changed at or before `seq`. Opening it
replays the rows changed after `seq` (upsert = remove the id, add it again; deletions from the
`removed` table), so a crash between writing the file and recording it in SQLite costs nothing:
the replay is idempotent. A missing or unreadable file is rebuilt from SQLite.
"""

from __future__ import annotations

import logging
import math
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

# Index type by collection size. Up to EXACT_SEARCH_LIMIT images an exact inner-product scan is
# fast enough (100 k × 512 floats = 200 MB read per query, ~10-20 ms on 2 cores) and has perfect
# recall. Above it: IVF with 8-bit scalar quantisation, 512 B per 512-d vector (+ ~30 B of id and
# id map), so 1 M images fit in ~0.55 GB, and a query scans nprobe/nlist of them. HNSW was not
# chosen: its graph costs another ~260 B per image at M=32 and builds for many minutes on 2 cores.
EXACT_SEARCH_LIMIT = 100_000
IVF_MIN_LISTS, IVF_MAX_LISTS = 256, 16_384
IVF_TRAIN_POINTS_PER_LIST = 32  # k-means sample; faiss suggests ≥ 39, and recall is measured anyway
DEFAULT_NPROBE = 32


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


def ivf_lists_for(count: int) -> int:
    """IVF list count for `count` vectors: a power of two near 2·√count (2048 at 1 M)."""
    target = 2 * math.sqrt(max(count, 1))
    return int(min(IVF_MAX_LISTS, max(IVF_MIN_LISTS, 2 ** round(math.log2(target)))))


def index_kind_for(count: int) -> str:
    return "flat-ip" if count <= EXACT_SEARCH_LIMIT else f"ivf{ivf_lists_for(count)}-sq8"


def kind_of(index: faiss.Index) -> str:
    ivf = faiss.try_extract_index_ivf(index)
    return "flat-ip" if ivf is None else f"ivf{ivf.nlist}-sq8"


def is_exact(index: faiss.Index) -> bool:
    return faiss.try_extract_index_ivf(index) is None


def all_ids(index: faiss.Index) -> np.ndarray:
    """Every id the index holds (with repeats, if it holds any: verify looks for them)."""
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None:
        return faiss.vector_to_array(index.id_map) if index.ntotal else np.array([], dtype=np.int64)
    lists = ivf.invlists
    parts = [
        faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy() for i in range(ivf.nlist) if lists.list_size(i)
    ]
    return np.concatenate(parts) if parts else np.array([], dtype=np.int64)


def _indexed_vectors(session: Session) -> tuple[np.ndarray, np.ndarray]:
    ids, blobs = [], []
    for row_id, blob in session.execute(
        select(ImageRow.id, ImageRow.vector).where(ImageRow.state == INDEXED).order_by(ImageRow.id)
    ):
        ids.append(row_id)
        blobs.append(blob)
    vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), -1) if ids else None
    return np.array(ids, dtype=np.int64), vectors


def build_from_sqlite(session: Session, dim: int, kind: str, seed: int = 0) -> VectorIndex:
    """A fresh index of `kind` holding every indexed row's vector (trained on a sample for IVF)."""
    seq = current_seq(session)
    ids, vectors = _indexed_vectors(session)
    if kind == "flat-ip":
        index = empty_index(dim)
    else:
        lists = int(kind[3:].split("-")[0])
        index = faiss.index_factory(dim, f"IVF{lists},SQ8", faiss.METRIC_INNER_PRODUCT)
        sample = vectors
        if vectors is not None and len(vectors) > lists * IVF_TRAIN_POINTS_PER_LIST:
            pick = np.random.default_rng(seed).choice(len(vectors), lists * IVF_TRAIN_POINTS_PER_LIST, replace=False)
            sample = vectors[np.sort(pick)]
        if sample is None or len(sample) < lists:
            raise ValueError(f"{kind} needs at least {lists} vectors to train")
        # faiss warns below 39 points per list; 32 is this project's measured choice (recall above).
        faiss.extract_index_ivf(index).cp.min_points_per_centroid = IVF_TRAIN_POINTS_PER_LIST
        index.train(sample)
        # A hash table from our row ids to list positions: upserts (remove + add) and verify's reads.
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        faiss.extract_index_ivf(index).nprobe = DEFAULT_NPROBE
    if vectors is not None:
        index.add_with_ids(vectors, ids)
    return VectorIndex(index, seq)


def reshape_if_needed(session: Session, vectors: VectorIndex, dim: int) -> VectorIndex:
    """Rebuild with another index type when the collection crossed a size threshold, or grew enough
    that an IVF should have twice (or half) its lists (2-4× the images, as lists ≈ 2·√n and are
    powers of two); otherwise return `vectors` unchanged."""
    wanted, current = index_kind_for(vectors.ntotal), kind_of(vectors.index)
    if wanted == current:
        return vectors
    if wanted.startswith("ivf") and current.startswith("ivf"):
        lists_now, lists_wanted = (int(k[3:].split("-")[0]) for k in (current, wanted))
        if lists_now * 2 > lists_wanted and lists_wanted * 2 > lists_now:
            return vectors
    if current.startswith("ivf") and wanted == "flat-ip" and vectors.ntotal > EXACT_SEARCH_LIMIT // 2:
        return vectors  # hysteresis: do not flip back and forth around the threshold
    log.info("rebuilding the vector index as %s for %d images (was %s)", wanted, vectors.ntotal, current)
    return build_from_sqlite(session, dim, wanted)


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
