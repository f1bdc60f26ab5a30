"""Query an index: Russian text and/or an example image -> hits, best first.

    index = search.open_index("data/index")
    hits = index.search("рыжий кот на диване", k=20)

The model is the one the index recorded (or a given one with the same weights). Reads see the
last committed state of a concurrent build: each search first replays rows changed since.
"""

from __future__ import annotations

import logging
import numbers
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt
import torch
from PIL import Image

from .clip.encoder import RuClip, load_model
from .duplicates import check_threshold, default_threshold, group_vectors
from .errors import IndexStoreError, StoreProblem
from .query import QueryError, QueryProblem, parse_query
from .store import Failure, IndexStats, IndexStore
from .store.vectors import DEFAULT_NPROBE, catch_up, load_vectors
from .vocabulary import Vocabulary

log = logging.getLogger(__name__)

__all__ = [
    "DuplicateGroup",
    "Failure",
    "Hit",
    "IndexStats",
    "PhotoIndex",
    "RUSSIAN_PROMPTS",
    "duplicate_groups",
    "open_index",
    "recorded_model",
]

PathLike = str | os.PathLike[str]
# A picture, a file, an indexed image's id, or an image embedding made earlier (model.encode_images)
ImageQuery = Image.Image | str | os.PathLike[str] | int | npt.NDArray[np.float32]
# Torch threads that encode one query; None: torch's own setting (one per core). Measured beside a
# build on 2 cores (benchmarks/query_beside_build.py, BENCHMARKS.md): with the build at niceness 10
# (its default), two threads are the fastest, quiet or not; one thread is the choice when other
# programs at normal priority keep the cores busy (a second thread then waits for a core).
QUERY_THREADS: int | None = None
FRESH_CHECK_S = 1.0  # see PhotoIndex._unpin_stale_connections
QUERY_CACHE_SIZE = 256  # term embeddings kept: the UI re-runs the same query on every interaction
# Prompt ensembling (CLIP's trick: a term is embedded inside several captions and averaged). Off by
# default: on the demo model it changes precision@5 of the 32 colour+shape queries by 0.00
# (0.944 -> 0.944 with these four); it is a knob for real ruCLIP models, unmeasured offline.
RUSSIAN_PROMPTS = ("{}", "фото, на котором изображено {}", "на картинке {}", "изображение: {}")


@dataclass(frozen=True)
class Hit:
    id: int
    path: str
    score: float  # cosine similarity of the query and the image, in [-1, 1]
    width: int | None = None
    height: int | None = None
    taken_at: datetime | None = None
    camera: str | None = None
    # The same photo in other files: identical copies (same bytes) elsewhere, and the camera RAW
    # beside a picture of the same name (IMG_1.CR2 with IMG_1.JPG).
    also_at: tuple[str, ...] = ()
    # Near-duplicates (other photos: burst frames, resized or edited copies) folded into this hit by
    # search(collapse_duplicates=True): their ids, best representative first. Each is a photo of its
    # own, with its own also_at; nothing is deleted.
    similar_shots: tuple[int, ...] = ()


@dataclass(frozen=True)
class DuplicateGroup:
    """Photos whose embeddings are near-identical (search/duplicates.py), the best representative
    first: the largest picture, then the oldest date taken, then the first indexed. A hit's score
    is its cosine similarity to the representative (1.0 for the representative itself)."""

    hits: tuple[Hit, ...]
    threshold: float

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(hit.id for hit in self.hits)

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(hit.path for hit in self.hits)

    def __len__(self) -> int:
        return len(self.hits)


def recorded_model(folder: str | os.PathLike[str]) -> str | None:
    """The model name an index was built with (None before its first build recorded one)."""
    store = IndexStore(folder)
    try:
        record = store.model_record()
    finally:
        store.close()
    return None if record is None else record.name


class PhotoIndex:
    """A searchable index folder. Thread-safe: Streamlit serves sessions from threads."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        model: RuClip | str | None = None,
        device: str = "auto",
        prompts: tuple[str, ...] | None = None,
        text_precision: str = "fp32",
        query_threads: int | None = QUERY_THREADS,
    ):
        self.folder = Path(folder)
        self.prompts = prompts  # templates with one "{}" each; None: terms are embedded as typed
        self.query_threads = query_threads  # torch threads that encode a query (None: torch's own setting)
        self._store = IndexStore(self.folder)
        recorded = self._store.model_record()
        if recorded is None:
            raise IndexStoreError(
                f"{self.folder} holds no finished build yet; run python -m indexer build first.", StoreProblem.NOT_BUILT
            )
        self.dim = recorded.embed_dim
        if isinstance(model, RuClip):
            self.model = model
        else:
            self.model = load_model(model or recorded.name, device=device, text_precision=text_precision)
        if self.model.fingerprint != recorded.fingerprint:
            raise IndexStoreError(
                f"The index {self.folder} was built with model {recorded.name!r}, and {self.model.name!r} has "
                f"other weights: its vectors would be meaningless here. Open it without a model (it uses "
                f"{recorded.name!r}) or rebuild the index with this model into another folder.",
                StoreProblem.OTHER_MODEL,
            )
        # The words the model was trained on, when its folder lists them (the demo does).
        self.vocabulary = Vocabulary.of_model_folder(self.model.folder)
        self._lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._term_cache: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._stats: tuple[tuple[int, str | None], IndexStats] | None = None
        self._fresh_checked = 0.0  # when _unpin_stale_connections last read the counter afresh
        self._groups: dict[tuple[int, float], list[DuplicateGroup]] = {}  # (change counter, threshold)
        self._groups_lock = threading.Lock()
        self._vectors = load_vectors(self.folder, self._store, self.dim)

    def _refresh(self) -> None:
        """Pick up rows a concurrent build committed since the last query."""
        self._unpin_stale_connections()
        if self._store.change_counter() == self._vectors.seq:  # the common case, checked cheaply
            return
        kind = self._store.index_kind()
        if kind is not None and kind != self._vectors.kind:
            # The build switched index kind (the collection crossed a size threshold): take its file.
            self._vectors = load_vectors(self.folder, self._store, self.dim)
        else:
            self._vectors = catch_up(self._store, self._vectors, self.dim)

    def _unpin_stale_connections(self) -> None:
        """At most once every FRESH_CHECK_S, read the change counter on a new connection; if the
        pooled ones read an older one, drop them. A pooled SQLite connection was seen to keep an old
        read snapshot (one build in four went unseen by a long-lived reader; not reproduced once
        probed, cause not found): this bounds how long a reader can lag behind a build."""
        now = time.monotonic()
        if now - self._fresh_checked < FRESH_CHECK_S:
            return
        self._fresh_checked = now
        if self._store.fresh_change_counter() > self._store.change_counter():
            log.warning("%s: a stale SQLite connection was dropped; reading the index afresh", self.folder)
            self._store.release_connections()

    def __len__(self) -> int:
        return self._store.count_indexed()

    def stats(self) -> IndexStats:
        """What the index holds: counts, failures by reason, model, index type, photo folders.

        Counted again only when a build has changed something since the last call: the UI asks on
        every interaction, and counting a million rows takes a good part of a second.
        """
        self._unpin_stale_connections()
        key = self._store.summary_key()
        cached = self._stats
        if cached is not None and cached[0] == key:
            return cached[1]
        stats = self._store.summary()
        self._stats = (key, stats)  # one assignment: a reader in another thread sees the old pair or the new
        return stats

    def failures(self, limit: int = 200) -> list[Failure]:
        """Files that could not be indexed, with the reason; the most recent first."""
        return self._store.failures(limit)

    def _text_vector(self, text: str) -> npt.NDArray[np.float32]:
        """The weighted sum of a query's terms (see query.py), each embedding cached."""
        total = np.zeros(self.dim, dtype=np.float32)
        for term in parse_query(text):
            total += term.weight * self._term_vector(term.text)
        return total

    def _term_vector(self, text: str) -> npt.NDArray[np.float32]:
        with self._cache_lock:
            cached = self._term_cache.get(text)
            if cached is not None:
                self._term_cache.move_to_end(text)
                return cached
        if self.prompts:
            mean = self.model.encode_texts([template.format(text) for template in self.prompts]).mean(axis=0)
            vector = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        else:
            vector = self.model.encode_texts([text])[0]
        vector.setflags(write=False)  # shared by every caller from now on
        with self._cache_lock:
            self._term_cache[text] = vector
            while len(self._term_cache) > QUERY_CACHE_SIZE:
                self._term_cache.popitem(last=False)
        return vector

    def _image_vector(self, image: ImageQuery) -> npt.NDArray[np.float32]:
        if isinstance(image, int):  # an indexed image by id: its stored vector, nothing to decode
            vector = self._store.vector_of(image)
            if vector is None:
                raise IndexStoreError(f"No indexed image with id {image} in {self.folder}.", StoreProblem.UNKNOWN_IMAGE)
            return vector
        if isinstance(image, np.ndarray):  # an embedding the caller kept, e.g. of an uploaded photo
            if image.shape != (self.dim,):
                raise QueryError(f"an image embedding for this index has shape ({self.dim},), not {image.shape}")
            return image.astype(np.float32) / max(float(np.linalg.norm(image)), 1e-12)
        return self.model.encode_images([image])[0]

    def query_vector(
        self, text: str | None = None, image: ImageQuery | None = None, image_weight: float = 1.0
    ) -> npt.NDArray[np.float32]:
        """The unit vector a search looks for: text terms and the example image, weighted and summed."""
        total = np.zeros(self.dim, dtype=np.float32)
        with _torch_threads(self.query_threads):
            if text is not None and text.strip():
                total += self._text_vector(text)
            if image is not None:
                total += image_weight * self._image_vector(image)
        norm = float(np.linalg.norm(total))
        if norm < 1e-6:
            raise QueryError(
                "search needs a text, an example image, or both (and weights that do not cancel out)",
                QueryProblem.NOTHING_TO_SEARCH,
            )
        return (total / norm).astype(np.float32)

    def _allowed_ids(self, folder: PathLike | None, date_from: date | None, date_to: date | None) -> np.ndarray | None:
        """Ids that pass the filters (None when there are no filters)."""
        if folder is None and date_from is None and date_to is None:
            return None
        return self._store.ids_matching(folder, date_from, date_to)

    def unknown_query(self, text: str | None) -> str | None:
        """Why a text query gets no results when the model lists the words it knows and the query
        has none of them (a sentence in Russian, for the page and the CLI); None otherwise."""
        if self.vocabulary is None or text is None or not text.strip():
            return None
        parse_query(text)  # a malformed query is told as such (QueryError) before its words are judged
        if self.vocabulary.knows_any_word_of(text):
            return None
        return self.vocabulary.explanation(self.model.name, text)

    def search(
        self,
        text: str | None = None,
        *,
        image: ImageQuery | None = None,
        k: int = 20,
        folder: PathLike | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        min_score: float | None = None,
        image_weight: float = 1.0,
        exclude: Iterable[int] = (),
        collapse_duplicates: bool = False,
    ) -> list[Hit]:
        """The k best images for a text query (see query.py for + / - / weights), an example image
        (PIL image, path, an indexed image's id, or its embedding), or both, best first.

        Filters apply inside the search, so k hits come back whenever k images pass them: `folder`
        (the images under it), `date_from` / `date_to` (EXIF date taken, inclusive; images without
        one are left out when a date filter is set). `min_score` drops weaker hits: an empty list
        then means "no confident matches". A score is the cosine similarity of the query and the
        image (ruCLIP's scale: related pairs typically score 0.2-0.35, unrelated ones below 0.15).
        A text-only query with no word the model knows (when its folder lists them, as the demo's
        does) returns []; `unknown_query(text)` says why. `collapse_duplicates`: one hit per
        near-duplicate group (duplicate_groups(): bursts, resized or edited copies), the best
        scoring of it that passes the filters, with the others' ids in `Hit.similar_shots`; k hits
        still come back whenever k groups or single photos pass the filters.
        """
        _check_arguments(k, image)
        if image is None and self.unknown_query(text):
            return []
        if collapse_duplicates:
            found, shots = self._collapsed(text, image, image_weight, k, folder, date_from, date_to, exclude)
        else:
            found, shots = self._ranked(text, image, image_weight, k, folder, date_from, date_to, exclude), {}
        if min_score is not None:
            found = [(i, s) for i, s in found if s >= min_score]
        hits = self._hits(found[:k], folder)
        return [replace(hit, similar_shots=shots[hit.id]) if hit.id in shots else hit for hit in hits]

    def _collapsed(
        self,
        text: str | None,
        image: ImageQuery | None,
        image_weight: float,
        k: int,
        folder: PathLike | None,
        date_from: date | None,
        date_to: date | None,
        exclude: Iterable[int],
    ) -> tuple[list[tuple[int, float]], dict[int, tuple[int, ...]]]:
        """The k best hits with one per near-duplicate group, and each kept hit's folded group
        members. Asks for more hits than k (a group may take many places), doubling until k are
        kept or every photo passing the filters has been seen."""
        group_of: dict[int, DuplicateGroup] = {}
        for group in self.duplicate_groups():
            for member in group.ids:
                group_of[member] = group
        excluded = list(exclude)
        want = 2 * k
        while True:
            found = self._ranked(text, image, image_weight, want, folder, date_from, date_to, excluded)
            kept: list[tuple[int, float]] = []
            shots: dict[int, tuple[int, ...]] = {}
            seen: set[int] = set()  # ids of groups already shown
            for row_id, score in found:
                group = group_of.get(row_id)
                if group is not None:
                    if id(group) in seen:
                        continue
                    seen.add(id(group))
                    shots[row_id] = tuple(member for member in group.ids if member != row_id)
                kept.append((row_id, score))
            if len(kept) >= k or len(found) < want:
                return kept[:k], shots
            want *= 2

    def duplicate_groups(self, threshold: float | None = None, min_size: int = 2) -> list[DuplicateGroup]:
        """Groups of near-identical photos (bursts, resized or re-encoded copies, light edits),
        largest first, each with its best representative first. `threshold`: the cosine from which
        two photos are near-duplicates (default: the model's, search.duplicates.default_threshold).
        Computed again only when a build has changed something since (a few seconds at 100 k)."""
        threshold = check_threshold(default_threshold(self.model.name) if threshold is None else threshold)
        key = (self._store.change_counter(), threshold)
        with self._groups_lock:
            cached = self._groups.get(key)
            if cached is None:
                cached = _groups_in_store(self._store, threshold)
                self._groups = {key: cached}  # one threshold at a time: the page asks for one
        return [group for group in cached if len(group) >= min_size]

    def scores(
        self,
        text: str | None = None,
        *,
        image: ImageQuery | None = None,
        limit: int = 5000,
        folder: PathLike | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        image_weight: float = 1.0,
        exclude: Iterable[int] = (),
    ) -> npt.NDArray[np.float32]:
        """The scores of the `limit` best images for a query (all of them in a smaller collection),
        best first: where a score threshold falls among them (the page draws their histogram)."""
        _check_arguments(limit, image)
        found = self._ranked(text, image, image_weight, limit, folder, date_from, date_to, exclude)
        return np.array([score for _, score in found], dtype=np.float32)

    def _ranked(
        self,
        text: str | None,
        image: ImageQuery | None,
        image_weight: float,
        k: int,
        folder: PathLike | None,
        date_from: date | None,
        date_to: date | None,
        exclude: Iterable[int],
    ) -> list[tuple[int, float]]:
        """(id, score) of the k best images passing the filters, best first."""
        query = self.query_vector(text, image, image_weight)
        allowed = self._allowed_ids(folder, date_from, date_to)
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
                scores, ids = self._search_vectors(index, query, want, allowed, excluded)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0][:k]

    def _search_vectors(
        self,
        index: faiss.Index,
        query: npt.NDArray[np.float32],
        want: int,
        allowed: np.ndarray | None,
        excluded: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """FAISS search restricted to `allowed` / without `excluded`. An IVF index looks into
        nprobe of its lists; when the filter's matches sit in lists it skipped, fewer than `want`
        come back, so nprobe grows 4× at a time, up to every list (then all matches are reachable)."""
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
            params = (
                faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
                if selector
                else faiss.SearchParametersIVF(nprobe=nprobe)
            )
            scores, ids = index.search(query[None, :], want, params=params)
            if int((ids[0] >= 0).sum()) >= want or nprobe >= ivf.nlist:
                return scores, ids
            nprobe = min(ivf.nlist, nprobe * 4)

    def similar(self, id_or_path: int | PathLike, k: int = 20, **filters) -> list[Hit]:
        """Images like an indexed one (by id or path), itself left out."""
        row_id = id_or_path if isinstance(id_or_path, int) else self.id_of(id_or_path)
        return self.search(image=row_id, k=k, exclude=[row_id], **filters)

    def id_of(self, path: PathLike) -> int:
        row_id = self._store.id_of(path)
        if row_id is None:
            raise IndexStoreError(f"{path} is not an indexed image of {self.folder}.", StoreProblem.UNKNOWN_IMAGE)
        return row_id

    def _hits(self, found: list[tuple[int, float]], folder: PathLike | None = None) -> list[Hit]:
        ids = [i for i, _ in found]
        rows, copies = self._store.hit_rows(ids), self._store.copies_of(ids)
        twins = self._store.raw_twins_of([row.path for row in rows.values()])
        hits = []
        for i, score in found:
            if i not in rows:
                continue
            row = rows[i]
            paths = [row.path, *copies.get(i, ()), *twins.get(row.path, ())]
            if folder is not None:  # the photo came through the folder filter: show it where it is there
                inside = os.path.join(os.path.abspath(os.path.expanduser(folder)), "")
                paths.sort(key=lambda path: not path.startswith(inside))  # stable: the oldest first otherwise
            hits.append(Hit(i, paths[0], score, row.width, row.height, row.taken_at, row.camera, tuple(paths[1:])))
        return hits


def _groups_in_store(store: IndexStore, threshold: float) -> list[DuplicateGroup]:
    """The near-duplicate groups of every indexed photo, largest first, best representative first."""
    _, ids, vectors = store.indexed_vectors()
    if vectors is None:
        return []
    grouped = group_vectors(ids, vectors, threshold)
    if not grouped:
        return []
    position = {int(row_id): i for i, row_id in enumerate(ids)}
    members = [int(i) for group in grouped for i in group]
    rows: dict = {}
    copies: dict[int, list[str]] = {}
    for start in range(0, len(members), 500):  # SQLite caps the parameters of one statement
        chunk = members[start : start + 500]
        rows.update(store.hit_rows(chunk))
        copies.update(store.copies_of(chunk))
    groups = []
    for group in grouped:
        present = [int(i) for i in group if int(i) in rows]  # a row deleted since the vectors were read
        if len(present) < 2:
            continue
        present.sort(key=lambda i: _representative_order(rows[i]))
        best = vectors[position[present[0]]]
        hits = tuple(
            Hit(
                i,
                rows[i].path,
                float(np.dot(vectors[position[i]], best)) if i != present[0] else 1.0,
                rows[i].width,
                rows[i].height,
                rows[i].taken_at,
                rows[i].camera,
                tuple(copies.get(i, ())),
            )
            for i in present
        )
        groups.append(DuplicateGroup(hits, threshold))
    groups.sort(key=lambda group: (-len(group), group.hits[0].path))
    return groups


def _representative_order(row) -> tuple:
    """Best representative first: most pixels (the original, not a resized copy), then the oldest
    date taken (the first of a burst; undated last), then the first indexed."""
    pixels = (row.width or 0) * (row.height or 0)
    taken = row.taken_at.timestamp() if row.taken_at is not None else float("inf")
    return (-pixels, taken, row.id)


def duplicate_groups(
    folder: str | os.PathLike[str], threshold: float | None = None, min_size: int = 2
) -> list[DuplicateGroup]:
    """PhotoIndex.duplicate_groups without loading the model: the vectors are all it needs (the
    indexer's `duplicates` command). The default threshold is the one of the model the index
    recorded."""
    store = IndexStore(folder)
    try:
        record = store.model_record()
        if record is None:
            raise IndexStoreError(
                f"{folder} holds no finished build yet; run python -m indexer build first.", StoreProblem.NOT_BUILT
            )
        chosen = check_threshold(default_threshold(record.name) if threshold is None else threshold)
        return [group for group in _groups_in_store(store, chosen) if len(group) >= min_size]
    finally:
        store.close()


def _check_arguments(k: object, image: object) -> None:
    """Wrong types as the caller's mistake, said plainly (True is an int to Python, not an id here)."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise QueryError(f"k is how many results to return, a whole number; got {k!r}")
    if isinstance(image, bool):
        raise QueryError(f"image is a picture, a file path, an indexed image's id or an embedding; got {image!r}")


@contextmanager
def _torch_threads(count: int | None) -> Iterator[None]:
    """Encode a query with `count` torch threads on the calling thread (torch keeps the setting per
    thread, as OpenMP does; it is put back). See QUERY_THREADS."""
    if count is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


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


def open_index(
    folder: str | os.PathLike[str],
    model: RuClip | str | None = None,
    device: str = "auto",
    prompts: tuple[str, ...] | None = None,
    text_precision: str = "fp32",
    query_threads: int | None = QUERY_THREADS,
) -> PhotoIndex:
    """Open an index folder built by `python -m indexer build`. `model` defaults to the one the index
    recorded; `prompts` (e.g. RUSSIAN_PROMPTS) turns on prompt ensembling for text terms;
    `text_precision="int8"` encodes queries with an int8 text transformer on the CPU (about 1.6x
    faster with ViT-B/32-384, cosine to exact ≥ 0.998; used when the index loads its model itself);
    `query_threads` is how many torch threads encode a query (None: torch's setting)."""
    return PhotoIndex(
        folder, model=model, device=device, prompts=prompts, text_precision=text_precision, query_threads=query_threads
    )
