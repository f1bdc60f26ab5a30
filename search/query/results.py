"""What a search returns: hits, best first, and why there are none when there are none.

Light (no torch, no faiss): the page and the CLI import these types at start-up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum


@dataclass(frozen=True)
class Hit:
    id: int
    path: str
    # The cosine similarity of the query and the image, in [-1, 1]; for a search by tags or a category
    # alone (no words, no image), the tag's share or the category's probability, in [0, 1].
    score: float
    width: int | None = None
    height: int | None = None
    taken_at: datetime | None = None
    camera: str | None = None
    # Where it was taken (EXIF GPS), decimal degrees, north and east positive; None without GPS.
    latitude: float | None = None
    longitude: float | None = None
    # The same photo in other files: identical copies (same bytes) elsewhere, and the camera RAW
    # beside a picture of the same name (IMG_1.CR2 with IMG_1.JPG).
    also_at: tuple[str, ...] = ()
    # Near-duplicates (other photos: burst frames, resized or edited copies) folded into this hit by
    # search(collapse_duplicates=True): their ids, best representative first. Each is a photo of its
    # own, with its own also_at; nothing is deleted.
    similar_shots: tuple[int, ...] = ()
    # Its zero-shot tags and the personal categories it is a member of, the most certain first.
    tags: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # The text read in the photo (`build --ocr`), lines joined by "\n"; None when none was read or
    # it holds no word. `matched_words`: the words of that text the query's words matched, as written.
    text: str | None = None
    matched_words: tuple[str, ...] = ()


@dataclass(frozen=True)
class DuplicateGroup:
    """Photos that are one shot: near-identical embeddings and pictures (search/duplicates.py), the best representative
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


class EmptyReason(Enum):
    """Why a search returned no hit (SearchResults.empty_reason); the page and the CLI word it."""

    INDEX_EMPTY = "index empty"  # the index holds no searchable photo (none built yet, or none readable)
    UNKNOWN_WORDS = "unknown words"  # a text-only query with no word the model knows (SearchResults.note says so)
    FILTERS_LEAVE_NOTHING = "filters leave nothing"  # no photo passes the folder / date filters
    NOTHING_LEFT = "nothing left"  # every photo is left out (the example itself, in a one-photo index)
    BELOW_MIN_SCORE = "below min score"  # matches were found, all scoring below min_score (best_score)
    NO_TEXT_MATCH = "no text match"  # a search of the photos' text alone: no photo holds the words
    NO_TEXT_READ = "no text read"  # a search of the photos' text alone, and no text was read in any photo


class SearchResults(list[Hit]):
    """The hits of one search, best first: a list, so `hits == []` and slicing work as before.

    `empty_reason` says why it is empty (None when it is not); `best_score` is the best score found
    before min_score cut (None when nothing was found); `note` is the model's own sentence on the
    words it knows, for UNKNOWN_WORDS.
    """

    def __init__(
        self,
        hits: Iterable[Hit] = (),
        empty_reason: EmptyReason | None = None,
        best_score: float | None = None,
        note: str | None = None,
    ):
        super().__init__(hits)
        self.empty_reason = None if len(self) else empty_reason
        self.best_score = best_score
        self.note = note

    def __repr__(self) -> str:
        if self:
            return super().__repr__()
        return f"SearchResults([], empty_reason={self.empty_reason})"
