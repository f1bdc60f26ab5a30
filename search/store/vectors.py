"""The FAISS side of an index: a cache of the vectors in SQLite, keyed by image row id.

The file `vectors-<seq>.faiss` holds every indexed row changed at or before change counter `seq`.
Opening it replays the rows changed after `seq` (upsert = remove the id, add it again; deletions
from the `removed` table), so a crash between writing the file and recording it in SQLite costs
nothing: the replay is idempotent. The file is trusted only when its size, sha256 and vector count
are what SQLite recorded when it was written; a missing, unreadable, swapped, truncated or altered
file is rebuilt from SQLite instead (a warning says so).
"""

from __future__ import annotations

import errno
import logging
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from ..errors import IndexStoreError, StoreProblem
from .health import disk_full_message
from .index_store import IndexStore
from .migrations import file_sha256
from .records import VectorFileRecord
from .schema import RowState

log = logging.getLogger(__name__)

# Index kind by collection size. Up to EXACT_SEARCH_LIMIT images an exact inner-product scan is
# fast enough (100 k × 512 floats = 200 MB read per query) and has perfect recall. Above it: IVF
# with 8-bit scalar quantisation, 512 B per 512-d vector (+ ~30 B of id and id map), and a query
# scans nprobe/nlist of them. HNSW was not chosen: its graph costs another ~260 B per image at M=32
# and builds for many minutes on 2 cores. Measured in BENCHMARKS.md.
EXACT_SEARCH_LIMIT = 100_000
IVF_MIN_LISTS, IVF_MAX_LISTS = 256, 16_384
IVF_TRAIN_POINTS_PER_LIST = 32  # k-means sample; faiss suggests ≥ 39, and recall is measured anyway
DEFAULT_NPROBE = 32
FLAT_KIND = "flat-ip"


@dataclass(frozen=True)
class IndexKind:
    """Which FAISS index: an exact scan (ivf_lists None) or IVF with that many lists over SQ8 codes."""

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
    def of(cls, index: faiss.Index) -> IndexKind:
        ivf = faiss.try_extract_index_ivf(index)
        return cls() if ivf is None else cls(int(ivf.nlist))

    @classmethod
    def for_count(cls, count: int) -> IndexKind:
        """The kind a collection of `count` images should have."""
        return cls() if count <= EXACT_SEARCH_LIMIT else cls(ivf_lists_for(count))


@dataclass
class VectorIndex:
    index: faiss.Index  # IndexIDMap2 (exact) or IVF with a hash-table direct map: ids are row ids
    seq: int  # every change up to this counter is in `index`
    rebuilt: bool = False  # made from SQLite because the recorded file could not be trusted

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def kind(self) -> IndexKind:
        return IndexKind.of(self.index)


def empty_index(dim: int) -> faiss.Index:
    # IDMap2 (not IDMap) so that verify can read a vector back by id and compare it with SQLite.
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def ivf_lists_for(count: int) -> int:
    """IVF list count for `count` vectors: a power of two near 2·√count (2048 at 1 M)."""
    target = 2 * math.sqrt(max(count, 1))
    return int(min(IVF_MAX_LISTS, max(IVF_MIN_LISTS, 2 ** round(math.log2(target)))))


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


def build_from_sqlite(store: IndexStore, dim: int, kind: IndexKind, seed: int = 0) -> VectorIndex:
    """A fresh index of `kind` holding every indexed row's vector (trained on a sample for IVF)."""
    seq, ids, vectors = store.indexed_vectors()
    if kind.exact:
        index = empty_index(dim)
    else:
        lists = int(kind.ivf_lists or 0)
        index = faiss.index_factory(dim, f"IVF{lists},SQ8", faiss.METRIC_INNER_PRODUCT)
        sample = vectors
        if vectors is not None and len(vectors) > lists * IVF_TRAIN_POINTS_PER_LIST:
            pick = np.random.default_rng(seed).choice(len(vectors), lists * IVF_TRAIN_POINTS_PER_LIST, replace=False)
            sample = vectors[np.sort(pick)]
        if sample is None or len(sample) < lists:
            raise ValueError(f"{kind.name} needs at least {lists} vectors to train")
        # faiss warns below 39 points per list; 32 is this project's measured choice (recall above).
        faiss.extract_index_ivf(index).cp.min_points_per_centroid = IVF_TRAIN_POINTS_PER_LIST
        index.train(sample)
        # A hash table from our row ids to list positions: upserts (remove + add) and verify's reads.
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        faiss.extract_index_ivf(index).nprobe = DEFAULT_NPROBE
    if vectors is not None:
        index.add_with_ids(vectors, ids)
    return VectorIndex(index, seq)


def reshape_if_needed(store: IndexStore, vectors: VectorIndex, dim: int) -> VectorIndex:
    """Rebuild with another index kind when the collection crossed a size threshold, or grew enough
    that an IVF should have twice (or half) its lists (2-4× the images, as lists ≈ 2·√n and are
    powers of two); otherwise return `vectors` unchanged."""
    wanted, current = IndexKind.for_count(vectors.ntotal), vectors.kind
    if wanted == current:
        return vectors
    if wanted.ivf_lists and current.ivf_lists:
        if current.ivf_lists * 2 > wanted.ivf_lists and wanted.ivf_lists * 2 > current.ivf_lists:
            return vectors
    if current.ivf_lists and wanted.exact and vectors.ntotal > EXACT_SEARCH_LIMIT // 2:
        return vectors  # hysteresis: do not flip back and forth around the threshold
    log.info("rebuilding the vector index as %s for %d images (was %s)", wanted.name, vectors.ntotal, current.name)
    return build_from_sqlite(store, dim, wanted)


def _apply_rows(index: faiss.Index, rows: list[tuple[int, bytes | None, str]], dim: int) -> None:
    ids = np.array([row[0] for row in rows], dtype=np.int64)
    if len(ids):
        index.remove_ids(ids)  # upsert: an id replayed twice must not appear twice
    live = [(i, vector) for i, vector, state in rows if state == RowState.INDEXED and vector is not None]
    if live:
        vectors = np.stack([np.frombuffer(v, dtype=np.float32) for _, v in live])  # (n, dim)
        if vectors.shape[1] != dim:
            raise ValueError(f"vector of dim {vectors.shape[1]} in an index of dim {dim}")
        index.add_with_ids(vectors, np.array([i for i, _ in live], dtype=np.int64))


def catch_up(store: IndexStore, vectors: VectorIndex, dim: int) -> VectorIndex:
    """Apply every row and removal with seq > vectors.seq; returns the index at the current seq."""
    if store.change_counter() == vectors.seq:
        return vectors
    target, removed, chunks = store.changes_since(vectors.seq)
    if len(removed):
        vectors.index.remove_ids(removed)
    for rows in chunks:  # in chunks: a first build replays up to every row of a large collection
        _apply_rows(vectors.index, rows, dim)
    return VectorIndex(vectors.index, target, vectors.rebuilt)


def _why_untrusted(path: Path, record: VectorFileRecord) -> str | None:
    """Why the file on disk is not the one SQLite recorded (None: it is)."""
    if not path.is_file():
        return "it is missing"
    if record.size_bytes is not None and path.stat().st_size != record.size_bytes:
        return f"it is {path.stat().st_size} bytes, {record.size_bytes} were written"
    if record.sha256 is not None and file_sha256(path) != record.sha256:
        return "its checksum differs from the one recorded when it was written"
    return None


def read_trusted(folder: Path, record: VectorFileRecord, dim: int) -> tuple[faiss.Index | None, str | None]:
    """The recorded FAISS file if it is exactly what was written, else (None, why not)."""
    path = Path(folder) / record.name
    why = _why_untrusted(path, record)
    if why is None:
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:  # faiss reports I/O and format errors as RuntimeError
            why = f"faiss cannot read it ({str(exc).splitlines()[0]})"
        else:
            if index.d != dim:
                why = f"it holds vectors of dimension {index.d}, the index {dim}"
            elif record.count is not None and index.ntotal != record.count:
                why = f"it holds {index.ntotal} vectors, {record.count} were written"
            else:
                return index, None
    return None, why


def load_vectors(folder: Path, store: IndexStore, dim: int) -> VectorIndex:
    """The recorded FAISS file brought up to date with SQLite; rebuilt from SQLite when it is absent
    or cannot be trusted (then `rebuilt` is set, and a build writes the new file at once)."""
    record = store.vector_file_record()
    if record is None:
        return catch_up(store, VectorIndex(empty_index(dim), 0), dim)
    index, why = read_trusted(folder, record, dim)
    if index is not None:
        return catch_up(store, VectorIndex(index, record.seq), dim)
    log.warning("rebuilding the vector index from SQLite: %s cannot be used (%s)", record.name, why)
    kind = IndexKind.parse(store.index_kind() or FLAT_KIND)
    if not kind.exact and store.count_indexed() < (kind.ivf_lists or 0):
        kind = IndexKind()
    rebuilt = build_from_sqlite(store, dim, kind)
    rebuilt.rebuilt = True
    return catch_up(store, rebuilt, dim)


def _fsync_folder(folder: Path) -> None:
    if os.name == "posix":
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def _out_of_space(exc: BaseException) -> bool:
    # faiss reports a failed fwrite as RuntimeError, with errno only in its message.
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(exc, RuntimeError) and any(os.strerror(code) in str(exc) for code in (errno.ENOSPC, errno.EDQUOT))


def save_vectors(folder: Path, store: IndexStore, vectors: VectorIndex) -> str:
    """Write the index as vectors-<seq>.faiss (temp file, fsync, rename, fsync the folder), then
    record it in SQLite with its size, checksum and count; older files are removed after that.
    A full disk leaves the recorded file and SQLite as they were (IndexStoreError DISK_FULL)."""
    folder = Path(folder)
    name = f"vectors-{vectors.seq:012d}.faiss"
    try:
        record = _write_file(folder, name, vectors)
    except (OSError, RuntimeError) as exc:
        if _out_of_space(exc):
            raise IndexStoreError(disk_full_message(folder / name), StoreProblem.DISK_FULL) from None
        raise
    _fsync_folder(folder)
    store.record_vector_file(record, vectors.kind.name)
    remove_stale_files(folder, keep=name)
    return name


def _write_file(folder: Path, name: str, vectors: VectorIndex) -> VectorFileRecord:
    """folder/name written whole and fsynced, or not at all (the temp file is removed)."""
    handle, temp = tempfile.mkstemp(dir=folder, prefix=".vectors-", suffix=".tmp")
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)  # mkstemp makes it private; the index is as readable as the folder
    try:
        faiss.write_index(vectors.index, temp)
        with open(temp, "rb+") as written:
            os.fsync(written.fileno())
        record = VectorFileRecord(
            name=name,
            seq=vectors.seq,
            size_bytes=os.path.getsize(temp),
            sha256=file_sha256(Path(temp)),
            count=vectors.ntotal,
            mtime_ns=os.stat(temp).st_mtime_ns,  # os.replace keeps it
        )
        os.replace(temp, folder / name)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return record


def remove_stale_files(folder: Path, keep: str | None) -> None:
    """Delete FAISS files other than `keep` (and temp files of an interrupted write)."""
    for path in Path(folder).glob("vectors-*.faiss"):
        if path.name != keep:
            path.unlink(missing_ok=True)
    for path in Path(folder).glob(".vectors-*.tmp"):
        path.unlink(missing_ok=True)
