"""The FAISS side of an index: its vectors kept current with the store, and the k best searched.

Reads see the last committed state of a concurrent build: each search first replays rows changed
since (or takes the build's new file when it switched index kind).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

from ..i18n import _
from ..store import IndexStore
from ..store.layout import IndexKind
from ..store.vectors import DEFAULT_NPROBE, catch_up, load_vectors, save_if_writable

log = logging.getLogger(__name__)

FRESH_CHECK_S = 1.0  # see Ranking.unpin_stale_connections


class Ranking:
    """One index folder's vectors, searched under a lock. Thread-safe."""

    def __init__(self, folder: Path, store: IndexStore, dim: int):
        self.folder, self.dim = folder, dim
        self._store = store
        self._lock = threading.Lock()
        self._fresh_checked = 0.0  # when unpin_stale_connections last read the counter afresh
        self._vectors = load_vectors(folder, store, dim)
        # No cache file (a restored backup, a deleted cache): written now when no build holds the
        # folder, so that the next reader does not make it again.
        save_if_writable(folder, store, self._vectors)

    @property
    def kind(self) -> IndexKind:
        """The kind of FAISS index searched now (exact, or IVF past a size threshold)."""
        return self._vectors.kind

    def ranked(
        self,
        query: npt.NDArray[np.float32],
        k: int,
        allowed: npt.NDArray[np.int64] | None,
        exclude: tuple[int, ...],
    ) -> list[tuple[int, float]]:
        """(id, score) of the k best images among `allowed` (None: all), none of `exclude`, best first."""
        excluded = np.fromiter(exclude, dtype=np.int64)
        with self._lock:
            self._refresh()
            index = self._vectors.index
            if allowed is not None and len(excluded):
                allowed = np.setdiff1d(allowed, excluded)
            candidates = index.ntotal if allowed is None else len(allowed)
            if k <= 0 or candidates == 0:
                return []
            want = min(k + len(excluded), candidates)
            with _one_faiss_thread():
                scores, ids = _search_vectors(index, query, want, allowed, excluded)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0][:k]

    def _refresh(self) -> None:
        """Pick up rows a concurrent build committed since the last query."""
        self.unpin_stale_connections()
        if self._store.change_counter() == self._vectors.seq:  # the common case, checked cheaply
            return
        kind = self._store.index_kind()
        if kind is not None and kind != self._vectors.kind:
            # The build switched index kind (the collection crossed a size threshold): take its file.
            self._vectors = load_vectors(self.folder, self._store, self.dim)
        else:
            self._vectors = catch_up(self._store, self._vectors, self.dim)

    def unpin_stale_connections(self) -> None:
        """At most once every FRESH_CHECK_S, read the change counter on a new connection; if the
        pooled ones read an older one, drop them. A pooled SQLite connection was seen to keep an old
        read snapshot (one build in four went unseen by a long-lived reader; not reproduced once
        probed, cause not found): this bounds how long a reader can lag behind a build."""
        now = time.monotonic()
        if now - self._fresh_checked < FRESH_CHECK_S:
            return
        self._fresh_checked = now
        if self._store.fresh_change_counter() > self._store.change_counter():
            log.warning(_("%s: a stale SQLite connection was dropped; reading the index afresh"), self.folder)
            self._store.release_connections()


def _search_vectors(
    index: faiss.Index,
    query: npt.NDArray[np.float32],
    want: int,
    allowed: np.ndarray | None,
    excluded: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """FAISS search restricted to `allowed` / without `excluded`. An IVF index looks into nprobe of
    its lists; when the filter's matches sit in lists it skipped, fewer than `want` come back, so
    nprobe grows 4× at a time, up to every list (then all matches are reachable)."""
    selector = None
    if allowed is not None or len(excluded):
        # Each selector stays bound to a local: faiss holds raw pointers to them.
        inner = faiss.IDSelectorBatch(allowed if allowed is not None else excluded)
        selector = inner if allowed is not None else faiss.IDSelectorNot(inner)
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None:
        params = faiss.SearchParameters(sel=selector) if selector is not None else None
        return index.search(query[None, :], want, params=params)
    nprobe = min(ivf.nprobe or DEFAULT_NPROBE, ivf.nlist)
    while True:
        if selector is not None:
            params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
        else:
            params = faiss.SearchParametersIVF(nprobe=nprobe)
        scores, ids = index.search(query[None, :], want, params=params)
        if int((ids[0] >= 0).sum()) >= want or nprobe >= ivf.nlist:
            return scores, ids
        nprobe = min(ivf.nlist, nprobe * 4)


@contextmanager
def _one_faiss_thread() -> Iterator[None]:
    """Search one query on the calling thread alone. Beside torch, faiss's OpenMP threads wait for
    cores that torch's threads still spin on: on 2 cores a 100 k exact scan took 65 ms with two
    threads and 43 ms with one (10 k: 42 -> 31 ms; 1 M IVF: 26 -> 25 ms), query encoding included.
    OpenMP keeps this setting per thread, so concurrent sessions do not see it; it is put back."""
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)
