"""Near-duplicate groups of an index (bursts, resized or edited copies), and a search that shows
one hit per group. The grouping itself is search/duplicates.py; this module reads the store."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import numpy as np

from ..commands import indexer_command
from ..duplicates import Prints, check_threshold, default_threshold, group_vectors
from ..errors import IndexStoreError, StoreProblem
from ..i18n import _
from ..store import IndexStore
from ..store.records import HitRow
from .hits import hit_of
from .results import DuplicateGroup

STATEMENT_IDS = 500  # ids read per statement: SQLite caps the parameters of one statement


class GroupCache:
    """An index's duplicate groups, computed again only when a build has changed something since
    (a few seconds at 100 k). Thread-safe; one threshold at a time: the page asks for one."""

    def __init__(self, store: IndexStore):
        self._store = store
        self._groups: dict[tuple[int, float], list[DuplicateGroup]] = {}  # (change counter, threshold)
        self._lock = threading.Lock()

    def groups(self, threshold: float, min_size: int = 2) -> list[DuplicateGroup]:
        key = (self._store.change_counter(), threshold)
        with self._lock:
            cached = self._groups.get(key)
            if cached is None:
                cached = groups_in_store(self._store, threshold)
                self._groups = {key: cached}
        return [group for group in cached if len(group) >= min_size]


def collapsed(
    ranked: Callable[[int], list[tuple[int, float]]], groups: list[DuplicateGroup], k: int
) -> tuple[list[tuple[int, float]], dict[int, tuple[int, ...]]]:
    """The k best (id, score) with one per near-duplicate group, and each kept hit's folded group
    members. `ranked(n)` is the n best of the search; more than k are asked for (a group may take
    many places), doubling until k are kept or every photo passing the filters has been seen."""
    group_of: dict[int, DuplicateGroup] = {}
    for group in groups:
        for member in group.ids:
            group_of[member] = group
    want = 2 * k
    while True:
        found = ranked(want)
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


def groups_in_store(store: IndexStore, threshold: float) -> list[DuplicateGroup]:
    """The near-duplicate groups of every indexed photo, largest first, best representative first."""
    _count, ids, vectors = store.indexed_vectors()
    if vectors is None:
        return []
    stored = store.picture_prints()  # rows without one (older builds) are judged by the embedding alone
    prints = Prints.of([stored.get(int(row_id)) for row_id in ids])
    grouped = group_vectors(ids, vectors, threshold, prints=prints)
    if not grouped:
        return []
    position = {int(row_id): i for i, row_id in enumerate(ids)}
    members = [int(i) for group in grouped for i in group]
    rows: dict[int, HitRow] = {}
    copies: dict[int, list[str]] = {}
    for start in range(0, len(members), STATEMENT_IDS):
        chunk = members[start : start + STATEMENT_IDS]
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
            hit_of(
                rows[i],
                float(np.dot(vectors[position[i]], best)) if i != present[0] else 1.0,
                tuple(copies.get(i, ())),
            )
            for i in present
        )
        groups.append(DuplicateGroup(hits, threshold))
    groups.sort(key=lambda group: (-len(group), group.hits[0].path))
    return groups


def _representative_order(row: HitRow) -> tuple:
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
                _("{folder} holds no finished build yet; run {value} build PHOTOS --index {folder} first.").format(
                    folder=folder, value=indexer_command()
                ),
                StoreProblem.NOT_BUILT,
            )
        chosen = check_threshold(default_threshold(record.name) if threshold is None else threshold)
        return [group for group in groups_in_store(store, chosen) if len(group) >= min_size]
    finally:
        store.close()
