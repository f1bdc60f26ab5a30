"""Query an index: Russian text and/or an example image -> hits, best first.

    index = search.open_index("data/index")
    hits = index.search("рыжий кот на диване", k=20)

The model is the one the index recorded (or a given one with the same weights). Reads see the
last committed state of a concurrent build: each search first replays rows changed since.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt
from PIL import Image
from sqlalchemy import func, select

from .encoder import RuClip, load_model
from .errors import IndexStoreError
from .query import QueryError, parse_query
from .store import (
    FAILED,
    INDEXED,
    LAST_BUILD_KEY,
    ImageRow,
    Root,
    count_indexed,
    engine_of,
    get_meta,
    hit_rows,
    open_database,
    read_seq,
)
from .vectors import DEFAULT_NPROBE, FAISS_FILE_KEY, catch_up, kind_of, load_vectors

PathLike = str | os.PathLike[str]
# A picture, a file, an indexed image's id, or an image embedding made earlier (model.encode_images)
ImageQuery = Image.Image | str | os.PathLike[str] | int | npt.NDArray[np.float32]
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


@dataclass(frozen=True)
class IndexStats:
    images: int  # searchable
    failed: int
    failures: dict[str, int]  # reason -> count
    model: str
    index_type: str  # "flat-ip" or "ivf<lists>-sq8"
    roots: list[str]  # the photo folders it was built from
    last_change: int  # grows with every committed change: a cheap "is there news?" check
    taken_from: datetime | None = None  # the EXIF dates the photos span (None: no dates)
    taken_to: datetime | None = None
    last_build: datetime | None = None  # when the last build finished (UTC); None while the first runs


@dataclass(frozen=True)
class Failure:
    """A file the index could not take, and why (the reason groups failures; detail is the message)."""

    path: str
    reason: str
    detail: str


def recorded_model(folder: str | os.PathLike[str]) -> str | None:
    """The model name an index was built with (None before its first build recorded one)."""
    with open_database(Path(folder), create=False)() as session:
        return get_meta(session, "model_name")


class PhotoIndex:
    """A searchable index folder. Thread-safe: Streamlit serves sessions from threads."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        model: RuClip | str | None = None,
        device: str = "auto",
        prompts: tuple[str, ...] | None = None,
        text_precision: str = "fp32",
    ):
        self.folder = Path(folder)
        self.prompts = prompts  # templates with one "{}" each; None: terms are embedded as typed
        self._factory = open_database(self.folder, create=False)
        self._engine = engine_of(self._factory)  # for the per-query reads (see store.read_seq)
        with self._factory() as session:
            recorded = get_meta(session, "model_name")
            fingerprint = get_meta(session, "model_fingerprint")
            dim = get_meta(session, "embed_dim")
        if recorded is None or fingerprint is None or dim is None:
            raise IndexStoreError(f"{self.folder} holds no finished build yet; run python -m indexer build first.")
        self.dim = int(dim)
        if isinstance(model, RuClip):
            self.model = model
        else:
            self.model = load_model(model or recorded, device=device, text_precision=text_precision)
        if self.model.fingerprint != fingerprint:
            raise IndexStoreError(
                f"The index {self.folder} was built with model {recorded!r}, and {self.model.name!r} has other "
                f"weights: its vectors would be meaningless here. Open it without a model (it uses {recorded!r}) "
                "or rebuild the index with this model into another folder."
            )
        self._lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._term_cache: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._stats: tuple[tuple[int, str | None], IndexStats] | None = None
        with self._factory() as session:
            self._vectors = load_vectors(self.folder, session, self.dim)

    def _refresh(self) -> None:
        """Pick up rows a concurrent build committed since the last query."""
        with self._engine.connect() as connection:
            if read_seq(connection) == self._vectors.seq:  # the common case, checked cheaply
                return
        with self._factory() as session:  # the change counter moved since the last query: catch up
            if get_meta(session, FAISS_FILE_KEY) is None:
                return
            if get_meta(session, "index_type") not in (None, kind_of(self._vectors.index)):
                # The build switched index type (the collection crossed a size threshold): take its file.
                self._vectors = load_vectors(self.folder, session, self.dim)
            else:
                self._vectors = catch_up(session, self._vectors, self.dim)

    def __len__(self) -> int:
        with self._factory() as session:
            return count_indexed(session)

    def stats(self) -> IndexStats:
        """What the index holds: counts, failures by reason, model, index type, photo folders.

        Counted again only when a build has changed something since the last call: the UI asks on
        every interaction, and counting a million rows takes a good part of a second.
        """
        with self._factory() as session:
            key = (int(get_meta(session, "seq") or 0), get_meta(session, LAST_BUILD_KEY))
            cached = self._stats
            if cached is not None and cached[0] == key:
                return cached[1]
            states = dict(session.execute(select(ImageRow.state, func.count()).group_by(ImageRow.state)).all())
            reasons = session.execute(
                select(ImageRow.reason, func.count()).where(ImageRow.state == FAILED).group_by(ImageRow.reason)
            ).all()
            taken_from, taken_to = session.execute(
                select(func.min(ImageRow.taken_at), func.max(ImageRow.taken_at)).where(ImageRow.state == INDEXED)
            ).one()
            stats = IndexStats(
                images=states.get(INDEXED, 0),
                failed=states.get(FAILED, 0),
                failures={str(reason): count for reason, count in reasons},
                model=str(get_meta(session, "model_name")),
                index_type=str(get_meta(session, "index_type")),
                roots=list(session.scalars(select(Root.path))),
                last_change=key[0],
                taken_from=taken_from,
                taken_to=taken_to,
                last_build=datetime.fromisoformat(key[1]) if key[1] else None,
            )
        self._stats = (key, stats)  # one assignment: a reader in another thread sees the old pair or the new
        return stats

    def failures(self, limit: int = 200) -> list[Failure]:
        """Files that could not be indexed, with the reason; the most recent first."""
        with self._factory() as session:
            rows = session.scalars(
                select(ImageRow).where(ImageRow.state == FAILED).order_by(ImageRow.seq.desc()).limit(limit)
            )
            return [Failure(row.file_path, str(row.reason), str(row.detail or row.reason)) for row in rows]

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
            with self._factory() as session:
                row = session.get(ImageRow, image)
            if row is None or row.state != INDEXED or row.vector is None:
                raise IndexStoreError(f"No indexed image with id {image} in {self.folder}.")
            return row.vector_array().copy()
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
        if text is not None and text.strip():
            total += self._text_vector(text)
        if image is not None:
            total += image_weight * self._image_vector(image)
        norm = float(np.linalg.norm(total))
        if norm < 1e-6:
            raise QueryError("search needs a text, an example image, or both (and weights that do not cancel out)")
        return (total / norm).astype(np.float32)

    def _allowed_ids(self, folder: PathLike | None, date_from: date | None, date_to: date | None) -> np.ndarray | None:
        """Ids that pass the filters (None when there are no filters)."""
        if folder is None and date_from is None and date_to is None:
            return None
        statement = select(ImageRow.id).where(ImageRow.state == INDEXED)
        if folder is not None:
            prefix = os.fsencode(os.path.join(os.path.abspath(folder), ""))
            statement = statement.where(func.substr(ImageRow.path, 1, len(prefix)) == prefix)
        if date_from is not None:
            statement = statement.where(ImageRow.taken_at >= _start_of(date_from))
        if date_to is not None:  # inclusive: the whole last day
            statement = statement.where(ImageRow.taken_at < _start_of(date_to) + timedelta(days=1))
        with self._factory() as session:
            return np.array(session.scalars(statement).all(), dtype=np.int64)

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
    ) -> list[Hit]:
        """The k best images for a text query (see query.py for + / - / weights), an example image
        (PIL image, path, an indexed image's id, or its embedding), or both, best first.

        Filters apply inside the search, so k hits come back whenever k images pass them: `folder`
        (the images under it), `date_from` / `date_to` (EXIF date taken, inclusive; images without
        one are left out when a date filter is set). `min_score` drops weaker hits: an empty list
        then means "no confident matches". A score is the cosine similarity of the query and the
        image (ruCLIP's scale: related pairs typically score 0.2-0.35, unrelated ones below 0.15).
        """
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
        found = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
        if min_score is not None:
            found = [(i, s) for i, s in found if s >= min_score]
        return self._hits(found[:k])

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
        key = os.fsencode(os.path.abspath(path))
        with self._factory() as session:
            row_id = session.scalar(select(ImageRow.id).where(ImageRow.path == key, ImageRow.state == INDEXED))
        if row_id is None:
            raise IndexStoreError(f"{path} is not an indexed image of {self.folder}.")
        return row_id

    def _hits(self, found: list[tuple[int, float]]) -> list[Hit]:
        with self._engine.connect() as connection:
            rows = hit_rows(connection, [i for i, _ in found])
        return [
            Hit(i, os.fsdecode(rows[i].path), score, rows[i].width, rows[i].height, rows[i].taken_at, rows[i].camera)
            for i, score in found
            if i in rows
        ]


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


def _start_of(day: date) -> datetime:
    return day if isinstance(day, datetime) else datetime(day.year, day.month, day.day)


def open_index(
    folder: str | os.PathLike[str],
    model: RuClip | str | None = None,
    device: str = "auto",
    prompts: tuple[str, ...] | None = None,
    text_precision: str = "fp32",
) -> PhotoIndex:
    """Open an index folder built by `python -m indexer build`. `model` defaults to the one the index
    recorded; `prompts` (e.g. RUSSIAN_PROMPTS) turns on prompt ensembling for text terms;
    `text_precision="int8"` encodes queries with an int8 text transformer on the CPU (about 1.6x
    faster with ViT-B/32-384, cosine to exact ≥ 0.998; used when the index loads its model itself)."""
    return PhotoIndex(folder, model=model, device=device, prompts=prompts, text_precision=text_precision)
