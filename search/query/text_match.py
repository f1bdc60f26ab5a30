"""The words of a query matched against the text read in the photos (indexer/ocr.py), and that
ranking fused with the meaning's.

A query's words are looked for in the photos' text as they are looked for in a search engine:
normalised and stemmed the way the photos' words were stored (search/ocr/words.py), so «чеки»
finds «ЧЕК»; a word in quotes («"пароль"», «пароль», „пароль“) must be in the text. The two
rankings, by meaning (FAISS) and by words (FTS5's bm25), are fused by reciprocal rank
(score = Σ 1 / (RRF_K + rank)): it needs no common scale between a cosine and bm25, and a photo high
in both comes first. How it compares with putting the word matches first is in BENCHMARKS.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..ocr.words import fts_expression, query_words

OCR_QUERY_MODES = ("auto", "only", "off")  # words and meaning together, the words alone, the meaning alone
RRF_K = 60  # the usual constant of reciprocal-rank fusion: rank 1 and rank 10 differ, but not tenfold
FUSION_DEPTH = 200  # how deep each ranking is read for the fusion
TEXT_MATCH_LIMIT = 2000  # the most photos a words-only search ranks

_QUOTED = re.compile(r'"([^"]*)"|«([^»]*)»|„([^“”]*)[“”]')


def split_quoted(text: str) -> tuple[str, tuple[str, ...]]:
    """(the query without its quoted parts, the quoted parts): '"пароль" wifi' -> ('wifi', ('пароль',))."""
    quoted = tuple(
        part.strip()
        for match in _QUOTED.finditer(text)
        if (part := next(g for g in match.groups() if g is not None)).strip()
    )
    return " ".join(_QUOTED.sub(" ", text).split()), quoted


@dataclass(frozen=True)
class TextQuery:
    """What a request asks of the photos' text: the words to look for, and those that must be there."""

    words: tuple[str, ...]  # every word worth matching (quoted or not), for ranking and highlighting
    required: tuple[str, ...]  # the quoted ones: a photo without them is no hit

    @classmethod
    def of(cls, free_text: str, quoted: Sequence[str]) -> TextQuery:
        required = tuple(word for part in quoted for word in query_words(part))
        words = tuple(dict.fromkeys([*query_words(free_text), *required]))
        return cls(words, tuple(dict.fromkeys(required)))

    def __bool__(self) -> bool:
        return bool(self.words)


def text_ranking(
    matching: Callable[[str, int], list[tuple[int, float]]], query: TextQuery, limit: int
) -> list[tuple[int, float]]:
    """(id, bm25 relevance) of the photos whose text matches, best first: those holding every
    required word, ranked by all the words. `matching` is TextStore.matching."""
    if not query:
        return []
    ranked = matching(fts_expression(query.words, require_all=False) or "", limit) if query.words else []
    if not query.required:
        return ranked
    required_expression = fts_expression(query.required, require_all=True)
    if required_expression is None:
        return ranked
    holding = {image_id for image_id, _ in matching(required_expression, TEXT_MATCH_LIMIT)}
    return [(image_id, score) for image_id, score in ranked if image_id in holding]


def fused(meaning: Sequence[tuple[int, float]], words: Sequence[tuple[int, float]]) -> list[int]:
    """The ids of both rankings ordered by reciprocal-rank fusion, best first (ties: by id)."""
    scores: dict[int, float] = {}
    for ranking in (meaning, words):
        for rank, (image_id, _) in enumerate(ranking, start=1):
            scores[image_id] = scores.get(image_id, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(scores, key=lambda image_id: (-scores[image_id], image_id))
