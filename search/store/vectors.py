"""The FAISS side of an index: a cache of the vectors in SQLite, keyed by image row id.

The file `vectors-<seq>.faiss` holds every indexed row changed at or before change counter `seq`.
Opening it replays the rows changed after `seq` (upsert = remove the id, add it again; deletions
from the `removed` table), so a crash between writing the file and recording it in SQLite costs
nothing: the replay is idempotent. The file is trusted only when its size, sha256 and vector count
are what SQLite recorded when it was written; an unreadable, swapped, truncated or altered file is
rebuilt from SQLite instead (a warning says so). A file that is not there at all (a restored backup,
a deleted cache) is a normal state: it is made from SQLite quietly, and written by whoever may write
(a build, `verify --repair`, `backup --restore`, or a reader that finds the writer lock free).
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from ..clip.folder import file_fingerprint
from ..errors import IndexStoreError, StoreProblem
from ..i18n import _
from . import layout
from .health import disk_full_message
from .index_store import IndexStore
from .layout import IndexKind, RowState
from .lock import writer_lock
from .records import VectorFileRecord

log = logging.getLogger(__name__)

IVF_TRAIN_POINTS_PER_LIST = 32  # k-means sample; faiss suggests ≥ 39, and recall is measured anyway
DEFAULT_NPROBE = 32


def kind_of(index: faiss.Index) -> IndexKind:
    ivf = faiss.try_extract_index_ivf(index)
    return IndexKind() if ivf is None else IndexKind(int(ivf.nlist))


@dataclass
class VectorIndex:
    index: faiss.Index  # IndexIDMap2 (exact) or IVF with a hash-table direct map: ids are row ids
    seq: int  # every change up to this counter is in `index`
    untrusted: str | None = None  # why the recorded file was not used (then this was made from SQLite)
    cache_missing: bool = False  # no file was there to read (a restore, a deleted cache): made from SQLite

    @property
    def rebuilt(self) -> bool:
        """Made from SQLite instead of read from the recorded file: the file should be written again."""
        return self.untrusted is not None or self.cache_missing

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def kind(self) -> IndexKind:
        return kind_of(self.index)


def empty_index(dim: int) -> faiss.Index:
    # IDMap2 (not IDMap) so that verify can read a vector back by id and compare it with SQLite.
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


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
    if current.ivf_lists and wanted.exact and vectors.ntotal > layout.EXACT_SEARCH_LIMIT // 2:
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
    with store.changes_since(vectors.seq) as (target, removed, chunks):
        if len(removed):
            vectors.index.remove_ids(removed)
        for rows in chunks:  # in chunks: a first build replays up to every row of a large collection
            _apply_rows(vectors.index, rows, dim)
    return VectorIndex(vectors.index, target, vectors.untrusted, vectors.cache_missing)


def _why_untrusted(path: Path, record: VectorFileRecord) -> str | None:
    """Why the file on disk is not the one SQLite recorded (None: it is)."""
    if not path.is_file():
        return _("it is missing")
    if record.size_bytes is not None and path.stat().st_size != record.size_bytes:
        return _("it is {st_size} bytes, {size_bytes} were written").format(
            st_size=path.stat().st_size, size_bytes=record.size_bytes
        )
    if record.sha256 is not None and file_fingerprint(path) != record.sha256:
        return _("its checksum differs from the one recorded when it was written")
    return None


def read_trusted(folder: Path, record: VectorFileRecord, dim: int) -> tuple[faiss.Index | None, str | None]:
    """The recorded FAISS file if it is exactly what was written, else (None, why not)."""
    path = Path(folder) / record.name
    why = _why_untrusted(path, record)
    if why is None:
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:  # faiss reports I/O and format errors as RuntimeError
            why = _("faiss cannot read it ({value})").format(value=str(exc).splitlines()[0])
        else:
            if index.d != dim:
                why = _("it holds vectors of dimension {d}, the index {dim}").format(d=index.d, dim=dim)
            elif record.count is not None and index.ntotal != record.count:
                why = _("it holds {ntotal} vectors, {count} were written").format(
                    ntotal=index.ntotal, count=record.count
                )
            else:
                return index, None
    return None, why


def load_vectors(folder: Path, store: IndexStore, dim: int) -> VectorIndex:
    """The recorded FAISS file brought up to date with SQLite; made from SQLite when it is absent
    (`cache_missing`: a normal state, logged at info level) or cannot be trusted (`untrusted` says
    why, with a warning). Either way a build writes the new file at once."""
    record = store.vector_file_record()
    if record is None:  # never written (a first build interrupted before its first checkpoint)
        return catch_up(store, VectorIndex(empty_index(dim), 0, cache_missing=True), dim)
    if not os.path.lexists(Path(folder) / record.name):
        # SQLite is the source of truth and the file only its cache: a restored index.sqlite or a
        # deleted cache is expected, not damage (what IS there and differs stays an alarm, below).
        log.info(
            "the vector cache %s is not there (a restored backup or a deleted cache); made from SQLite", record.name
        )
        made = build_from_sqlite(store, dim, kind_to_rebuild(store, store.count_indexed()))
        made.cache_missing = True
        return catch_up(store, made, dim)
    index, why = read_trusted(folder, record, dim)
    if index is not None:
        return catch_up(store, VectorIndex(index, record.seq), dim)
    log.warning(_("rebuilding the vector index from SQLite: %s cannot be used (%s)"), record.name, why)
    rebuilt = build_from_sqlite(store, dim, kind_to_rebuild(store, store.count_indexed()))
    rebuilt.untrusted = why
    return catch_up(store, rebuilt, dim)


def save_if_writable(folder: Path, store: IndexStore, vectors: VectorIndex) -> str | None:
    """A reader's chance to write the cache it had to make from SQLite, so that the next reader
    reads it instead of making it again: only when the writer lock is free (a build or verify that
    holds it writes the file itself) and the folder can be written. Returns the file's name, or
    None when it stays in memory (then the next build writes it)."""
    if not vectors.cache_missing or vectors.untrusted is not None:
        return None  # an untrusted file is an alarm: verify --repair or a build replaces it
    seen = store.vector_file_record()
    try:
        with writer_lock(Path(folder), doing=_("write the vector cache")):
            if store.vector_file_record() != seen:
                return None  # another process wrote it meanwhile
            name = save_vectors(folder, store, vectors)  # as made: its seq says what it holds
    except (IndexStoreError, OSError, RuntimeError) as exc:  # busy, read-only, a full disk
        log.info("the vector cache stays in memory (%s); the next build writes it", str(exc).splitlines()[0])
        return None
    vectors.cache_missing = False
    log.info("wrote the vector cache %s from SQLite", name)
    return name


def kind_to_rebuild(store: IndexStore, count: int) -> IndexKind:
    """The kind the index had, unless there are now fewer images than an IVF has lists."""
    kind = store.index_kind()
    if kind is None or (not kind.exact and count < (kind.ivf_lists or 0)):
        return IndexKind.for_count(count)
    return kind


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
    """Write the index as vectors-<seq>-<sha256 prefix>.faiss (temp file, fsync, rename, fsync the
    folder), then record it in SQLite with its size, checksum, count and mtime; older files are
    removed after that. The name is new for every content, so the recorded file is never
    overwritten in place: a reader (or a crash) between the rename and the record sees the old
    pair. A full disk leaves the recorded file and SQLite as they were (IndexStoreError DISK_FULL)."""
    folder = Path(folder)
    try:
        record = _write_file(folder, vectors)
    except (OSError, RuntimeError) as exc:
        if _out_of_space(exc):
            raise IndexStoreError(disk_full_message(folder / "vectors-….faiss"), StoreProblem.DISK_FULL) from None
        raise
    _fsync_folder(folder)
    store.record_vector_file(record, vectors.kind)
    remove_stale_files(folder, keep=record.name)
    vectors.untrusted = None  # what it was rebuilt as is now the recorded file
    return record.name


def _write_file(folder: Path, vectors: VectorIndex) -> VectorFileRecord:
    """The index written whole and fsynced under its final name, or not at all (the temp file is removed)."""
    handle, temp = tempfile.mkstemp(dir=folder, prefix=".vectors-", suffix=".tmp")
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)  # mkstemp makes it private; the index is as readable as the folder
    try:
        faiss.write_index(vectors.index, temp)
        with open(temp, "rb+") as written:
            os.fsync(written.fileno())
        sha256 = file_fingerprint(Path(temp))
        record = VectorFileRecord(
            name=f"vectors-{vectors.seq:012d}-{sha256[:12]}.faiss",
            seq=vectors.seq,
            size_bytes=os.path.getsize(temp),
            sha256=sha256,
            count=vectors.ntotal,
            mtime_ns=os.stat(temp).st_mtime_ns,  # os.replace keeps it
        )
        os.replace(temp, folder / record.name)
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
