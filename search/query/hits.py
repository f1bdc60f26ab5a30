"""Ids and scores -> Hit: the photo's details and its other files, read from the store.

The one place a Hit is made from a stored row: a field of HitRow (search/store/records.py) is the
Hit's field of the same name (search/query/results.py).
"""

from __future__ import annotations

from dataclasses import fields

from ..ocr.words import matched_words
from ..store import IndexStore
from ..store.records import HitRow
from .filters import inside_first
from .request import PathLike
from .results import Hit

HIT_ROW_FIELDS = tuple(field.name for field in fields(HitRow))


def hit_of(
    row: HitRow,
    score: float,
    also_at: tuple[str, ...] = (),
    path: str | None = None,
    similar_shots: tuple[int, ...] = (),
    tags: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    text: str | None = None,
    matched_words: tuple[str, ...] = (),
) -> Hit:
    """The hit for a stored row: shown at `path` (default the row's own), its other files `also_at`,
    the near-duplicates folded into it `similar_shots`. Every field of the row is the Hit's field of
    the same name, so a photo fact added to HitRow and Hit needs nothing here."""
    shown = {name: getattr(row, name) for name in HIT_ROW_FIELDS}
    if path is not None:
        shown["path"] = path
    return Hit(
        **shown,
        score=score,
        also_at=also_at,
        similar_shots=similar_shots,
        tags=tags,
        categories=categories,
        text=text,
        matched_words=matched_words,
    )


def filled_hits(
    store: IndexStore,
    found: list[tuple[int, float]],
    folder: PathLike | None = None,
    similar_shots: dict[int, tuple[int, ...]] | None = None,
    text_words: tuple[str, ...] = (),
) -> list[Hit]:
    """Hits for (id, score) pairs in their order, with each photo's identical copies and RAW twins;
    an id no longer indexed (deleted by a build since the search) is left out. Under a folder
    filter a photo is shown at its file there. `similar_shots`: the near-duplicates folded into a hit."""
    ids = [i for i, _ in found]
    rows, copies = store.hit_rows(ids), store.copies_of(ids)
    twins = store.raw_twins_of([row.path for row in rows.values()])
    tags, categories = store.labels.tags_of(list(rows)), store.labels.categories_of(list(rows))
    texts = store.texts.texts_of(list(rows))
    shots = similar_shots or {}
    hits = []
    for i, score in found:
        row = rows.get(i)
        if row is None:
            continue
        paths = inside_first([row.path, *copies.get(i, ()), *twins.get(row.path, ())], folder)
        hits.append(
            hit_of(
                row,
                score,
                tuple(paths[1:]),
                path=paths[0],
                similar_shots=shots.get(i, ()),
                tags=tags.get(i, ()),
                categories=categories.get(i, ()),
                text=texts.get(i),
                matched_words=matched_words(texts[i], text_words) if text_words and i in texts else (),
            )
        )
    return hits
