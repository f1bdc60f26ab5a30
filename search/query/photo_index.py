"""Query an index: Russian text and/or an example image -> hits, best first.

    index = search.open_index("data/index")
    hits = index.search("рыжий кот на диване", k=20)

The model is the one the index recorded (or a given one with the same weights). Reads see the
last committed state of a concurrent build. PhotoIndex only wires the query package's stages:
request -> vectors -> filters -> ranking -> (groups) -> hits, and says why a search found nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ..clip.folder import file_fingerprint
from ..clip.loading import load_encoder
from ..commands import indexer_command
from ..duplicates import check_threshold, default_threshold
from ..errors import IndexStoreError, StoreProblem
from ..i18n import _
from ..labels.collection import CollectionLabels
from ..store import Failure, IndexStats, IndexStore
from ..vocabulary import Vocabulary
from .filters import allowed_ids, label_scores
from .groups import GroupCache, collapsed
from .hits import filled_hits
from .language import QueryError, QueryProblem
from .ranking import Ranking
from .request import ImageQuery, PathLike, SearchRequest
from .results import DuplicateGroup, EmptyReason, SearchResults
from .text_match import FUSION_DEPTH, TEXT_MATCH_LIMIT, fused, text_ranking
from .vectors import QUERY_THREADS, QueryVectors

if TYPE_CHECKING:
    from ..clip.encoder import RuClip
    from ..clip.onnx_model import OnnxRuClip


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
        model: RuClip | OnnxRuClip | str | None = None,
        device: str = "auto",
        prompts: tuple[str, ...] | None = None,
        text_precision: str = "fp32",
        query_threads: int | None = QUERY_THREADS,
    ):
        self.folder = Path(folder)
        self._store = IndexStore(self.folder)
        recorded = self._store.model_record()
        if recorded is None:
            raise IndexStoreError(
                _("{folder} holds no finished build yet; run {value} build PHOTOS --index {folder} first.").format(
                    folder=self.folder, value=indexer_command()
                ),
                StoreProblem.NOT_BUILT,
            )
        self.dim = recorded.embed_dim
        if model is not None and not isinstance(model, str):  # a loaded RuClip or OnnxRuClip
            self.model = model
        else:
            self.model = _loaded_for_search(self._store, model or recorded.name, device, text_precision)
        if self.model.fingerprint != recorded.fingerprint:
            raise IndexStoreError(
                _(
                    "The index {folder} was built with model {name!r}, and {name2!r} has other weights: its "
                    "vectors would be meaningless here. Open it without a model (it uses {name!r}) or rebuild "
                    "the index with this model into another folder."
                ).format(folder=self.folder, name=recorded.name, name2=self.model.name),
                StoreProblem.OTHER_MODEL,
            )
        # The words the model was trained on, when its folder lists them (the demo does).
        self.vocabulary = Vocabulary.of_model_folder(self.model.folder)
        self._query_vectors = QueryVectors(self.model, self._store, self.dim, prompts, query_threads)
        self._ranking = Ranking(self.folder, self._store, self.dim)
        self._groups = GroupCache(self._store)
        # Tags and categories (search/labels/): list, teach, correct, remove.
        self.labels = CollectionLabels(self._store, lambda: self.model, self.model.fingerprint)
        self._stats: tuple[tuple[int, str | None, str | None], IndexStats] | None = None

    @property
    def prompts(self) -> tuple[str, ...] | None:
        """Caption templates a text term is embedded in and averaged over (None: as typed)."""
        return self._query_vectors.prompts

    @property
    def query_threads(self) -> int | None:
        """Torch threads that encode a query (None: torch's own setting)."""
        return self._query_vectors.query_threads

    def __len__(self) -> int:
        return self._store.count_indexed()

    def stats(self) -> IndexStats:
        """What the index holds: counts, failures by reason, model, index type, photo folders.

        Counted again only when a build has changed something since the last call: the UI asks on
        every interaction, and counting a million rows takes a good part of a second.
        """
        self._ranking.unpin_stale_connections()
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

    def query_vector(
        self, text: str | None = None, image: ImageQuery | None = None, image_weight: float = 1.0
    ) -> npt.NDArray[np.float32]:
        """The unit vector a search looks for: text terms and the example image, weighted and summed."""
        request = SearchRequest(text, image=image, image_weight=image_weight)
        return self._query_vectors.query_vector(request.terms, request.image, request.image_weight)

    def unknown_query(self, text: str | None) -> str | None:
        """Why a text query gets no results when the model lists the words it knows and the query
        has none of them (a sentence in Russian, for the page and the CLI); None otherwise."""
        if self.vocabulary is None or text is None or not text.strip():
            return None
        SearchRequest(text)  # a malformed query is told as such (QueryError) before its words are judged
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
        tags: Iterable[str] | str = (),
        category: str | None = None,
        ocr: str = "auto",
    ) -> SearchResults:
        """The k best images for a text query (see language.py for + / - / weights), an example image
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
        still come back whenever k groups or single photos pass the filters. `tags`: only photos
        carrying every one of these zero-shot tags; `category`: only members of this personal
        category (see `labels`); with neither words nor an image, the photos they let through come
        best first by the tag's share or the category's probability. An unknown tag or category
        is a LabelError naming it. `ocr`: with "auto" the query's words are also looked for in the
        text read in the photos (`build --ocr`), stemmed so that inflected forms match, and both
        rankings are fused; "only" looks in the text alone (as does a query of quoted words,
        «"пароль"»: quoted words must be in the text), "off" in the meaning alone. A hit's
        `matched_words` are the words of its text that matched, `text` the text read in it. An
        empty result's `empty_reason` says why it is empty. The same as run(SearchRequest.of(...)).
        """
        request = SearchRequest.of(
            text,
            image=image,
            k=k,
            folder=folder,
            date_from=date_from,
            date_to=date_to,
            min_score=min_score,
            image_weight=image_weight,
            exclude=exclude,
            collapse_duplicates=collapse_duplicates,
            tags=tags,
            category=category,
            ocr=ocr,
        )
        return self.run(request)

    def run(self, request: SearchRequest) -> SearchResults:
        """The hits for a request, best first; when there are none, `empty_reason` says why."""
        allowed = allowed_ids(self._store, request.filters, self.labels)
        words = self._word_matches(request, allowed)
        words_only = request.words_only or (bool(request.text_query.required) and not words)
        if request.text_query.required:  # quoted words must be on the photo: only those photos are ranked
            allowed = np.array([image_id for image_id, _ in words], dtype=np.int64)
        if request.image is None and not words_only:
            note = self.unknown_query(request.text) if request.terms else None
            if note is not None and words:
                words_only = True  # the model knows none of the words, but the photos hold them
            elif note is not None:
                reason = EmptyReason.INDEX_EMPTY if len(self) == 0 else EmptyReason.UNKNOWN_WORDS
                return SearchResults([], reason, note=note)
        if words_only:
            rank = self._by_words(request, words)
        elif not request.terms and request.image is None and request.filters.by_label:
            rank = self._by_label(request, allowed)
        else:
            query = self._query_vectors.query_vector(request.terms, request.image, request.image_weight)
            rank = self._by_meaning(query, request, allowed, words)

        if request.collapse_duplicates:
            found, shots = collapsed(rank, self.duplicate_groups(), request.k)
        else:
            found, shots = rank(request.k), {}
        best = max((score for _, score in found), default=None)
        if request.min_score is not None:  # a photo holding the words stays, whatever its cosine
            matched = {image_id for image_id, _ in words}
            found = [(i, s) for i, s in found if s >= request.min_score or i in matched]
        hits = filled_hits(
            self._store, found[: request.k], request.filters.folder, shots, text_words=request.text_query.words
        )
        if hits:
            return SearchResults(hits, best_score=best)
        return SearchResults([], self._why_empty(request, best, words_only), best_score=best)

    def _word_matches(self, request: SearchRequest, allowed: npt.NDArray[np.int64] | None) -> list[tuple[int, float]]:
        """The photos whose text holds the query's words (those in quotes all of them), best first,
        among those the filters allow."""
        if not request.text_query:
            if request.words_only:
                raise QueryError(
                    _("Nothing to look for in the text of the photos: {text!r} has no word to match.").format(
                        text=request.text or ""
                    ),
                    QueryProblem.NOTHING_TO_SEARCH,
                )
            return []
        ranked = text_ranking(self._store.texts.matching, request.text_query, TEXT_MATCH_LIMIT)
        passing = None if allowed is None else set(allowed.tolist())
        excluded = set(request.exclude)
        return [(i, s) for i, s in ranked if (passing is None or i in passing) and i not in excluded]

    @staticmethod
    def _by_words(request: SearchRequest, words: list[tuple[int, float]]) -> Callable[[int], list[tuple[int, float]]]:
        """A search of the photos' text alone: the matches by relevance; a hit's score is its
        relevance relative to the best match's (1.0 for it)."""
        best = max((relevance for _, relevance in words), default=0.0)
        scored = [(i, relevance / best if best > 0 else 1.0) for i, relevance in words]
        return lambda want: scored[:want]

    def _by_meaning(
        self,
        query: npt.NDArray[np.float32],
        request: SearchRequest,
        allowed: npt.NDArray[np.int64] | None,
        words: list[tuple[int, float]],
    ) -> Callable[[int], list[tuple[int, float]]]:
        """The nearest photos to the query vector; with photos holding the query's words, both
        rankings fused (text_match.py). A hit's score is its cosine either way."""

        def rank(want: int) -> list[tuple[int, float]]:
            if not words:
                return self._ranking.ranked(query, want, allowed, request.exclude)
            depth = max(want, FUSION_DEPTH)
            meaning = self._ranking.ranked(query, depth, allowed, request.exclude)
            order = fused(meaning, words[:depth])[:want]
            cosines = dict(meaning)
            missing = [i for i in order if i not in cosines]
            for image_id, vector in self._store.labels.indexed_vectors_of(missing).items():
                cosines[image_id] = float(vector @ query)
            return [(i, cosines[i]) for i in order if i in cosines]

        return rank

    def _by_label(
        self, request: SearchRequest, allowed: npt.NDArray[np.int64] | None
    ) -> Callable[[int], list[tuple[int, float]]]:
        """A search by tags or a category alone: the photos they let through, by the category's
        probability (else the tags' smallest share), best first."""
        scores = label_scores(request.filters, self.labels)[-1]  # the category's when there is one
        passing = set(scores) if allowed is None else set(allowed.tolist())
        excluded = set(request.exclude)
        ranked = sorted(
            ((i, s) for i, s in scores.items() if i in passing and i not in excluded), key=lambda p: (-p[1], p[0])
        )
        return lambda want: ranked[:want]

    def _why_empty(self, request: SearchRequest, best: float | None, words_only: bool = False) -> EmptyReason:
        """Why a search that ran found nothing; `best` is the best score it found (None: no photo)."""
        if words_only and best is None and len(self):
            if not self._store.texts.counts().with_words:
                return EmptyReason.NO_TEXT_READ
            return EmptyReason.FILTERS_LEAVE_NOTHING if request.filters.active else EmptyReason.NO_TEXT_MATCH
        if best is not None:
            below = request.min_score is not None and best < request.min_score
            # Else every match was deleted by a build between the search and reading its rows.
            return EmptyReason.BELOW_MIN_SCORE if below else EmptyReason.NOTHING_LEFT
        if len(self) == 0:
            return EmptyReason.INDEX_EMPTY
        if request.filters.active:
            return EmptyReason.FILTERS_LEAVE_NOTHING
        return EmptyReason.NOTHING_LEFT

    def duplicate_groups(self, threshold: float | None = None, min_size: int = 2) -> list[DuplicateGroup]:
        """Groups of near-identical photos (bursts, resized or re-encoded copies, light edits),
        largest first, each with its best representative first. `threshold`: the cosine from which
        two photos are near-duplicates (default: the model's, search.duplicates.default_threshold).
        Computed again only when a build has changed something since (a few seconds at 100 k)."""
        threshold = check_threshold(default_threshold(self.model.name) if threshold is None else threshold)
        return self._groups.groups(threshold, min_size)

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
        tags: Iterable[str] | str = (),
        category: str | None = None,
    ) -> npt.NDArray[np.float32]:
        """The scores of the `limit` best images for a query (all of them in a smaller collection),
        best first: where a score threshold falls among them (the page draws their histogram)."""
        request = SearchRequest.of(
            text,
            image=image,
            k=limit,  # checked as a search's k is
            folder=folder,
            date_from=date_from,
            date_to=date_to,
            image_weight=image_weight,
            exclude=exclude,
            tags=tags,
            category=category,
        )
        return self.scores_of(request, request.k)

    def scores_of(self, request: SearchRequest, limit: int) -> npt.NDArray[np.float32]:
        """scores() for a request: its query and filters, the `limit` best (its k, min_score and
        collapsing do not apply)."""
        allowed = allowed_ids(self._store, request.filters, self.labels)
        if not request.terms and request.image is None and request.filters.by_label:
            found = self._by_label(request, allowed)(limit)
        else:
            query = self._query_vectors.query_vector(request.terms, request.image, request.image_weight)
            found = self._ranking.ranked(query, limit, allowed, request.exclude)
        return np.array([score for _, score in found], dtype=np.float32)

    def similar(self, id_or_path: int | PathLike, k: int = 20, **filters) -> SearchResults:
        """Images like an indexed one (by id or path), itself left out."""
        row_id = id_or_path if isinstance(id_or_path, int) else self.id_of(id_or_path)
        return self.search(image=row_id, k=k, exclude=[row_id], **filters)

    def id_of(self, path: PathLike) -> int:
        """The id of the indexed image at `path`; IndexStoreError (UNKNOWN_IMAGE) when there is none."""
        row_id = self._store.id_of(path)
        if row_id is None:
            raise IndexStoreError(
                _("{path} is not an indexed image of {folder}.").format(path=path, folder=self.folder),
                StoreProblem.UNKNOWN_IMAGE,
            )
        return row_id


def _loaded_for_search(store: IndexStore, name: str, device: str, text_precision: str) -> RuClip | OnnxRuClip:
    """The model `name` for the index's queries (load_search_model). The weights are hashed only
    when their file changed since the index recorded it (a 600 MB file takes a second to hash)."""
    recorded = store.model_record()

    def fingerprint_of(weights: Path) -> str:
        stat = weights.stat()
        unchanged = store.weights_stat() == f"{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        return recorded.fingerprint if unchanged and recorded is not None else file_fingerprint(weights)

    return load_encoder(name, "text", device=device, text_precision=text_precision, fingerprint_of=fingerprint_of)


def load_search_model(
    name: str | None = None, device: str = "auto", text_precision: str = "fp32"
) -> RuClip | OnnxRuClip:
    """The model `name` (None: $RUPHOTO_MODEL, else the default) for queries, as `open_index` loads it:
    on a CPU in fp32 its ONNX export run by ONNX Runtime (exported on first use; no torch import, and
    only the text tower loaded until a picture is the query), else the torch network (`load_model`)."""
    return load_encoder(name, "text", device=device, text_precision=text_precision)


def open_index(
    folder: str | os.PathLike[str],
    model: RuClip | OnnxRuClip | str | None = None,
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
