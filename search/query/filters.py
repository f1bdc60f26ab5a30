"""A request's filters -> the ids a search may return (the store answers; FAISS is then restricted)."""

from __future__ import annotations

import os

import numpy as np
import numpy.typing as npt

from ..labels.collection import CollectionLabels
from ..store import IndexStore
from .request import Filters, PathLike


def allowed_ids(store: IndexStore, filters: Filters, labels: CollectionLabels) -> npt.NDArray[np.int64] | None:
    """Ids of the indexed photos that pass the filters (None when there are no filters). An unknown
    tag or category is a LabelError naming it."""
    if not filters.active:
        return None
    ids = None
    if filters.by_place_or_date:
        ids = store.ids_matching(filters.folder, filters.date_from, filters.date_to)
    for scores in label_scores(filters, labels):
        labelled = np.fromiter(scores, dtype=np.int64, count=len(scores))
        ids = labelled if ids is None else np.intersect1d(ids, labelled, assume_unique=True)
    return np.sort(ids) if ids is not None else None


def label_scores(filters: Filters, labels: CollectionLabels) -> list[dict[int, float]]:
    """id -> score of the photos each label filter lets through: the tags' (the smallest share of
    them all), the category's (its probability); nothing without label filters."""
    found = []
    if filters.tags:
        found.append(labels.tag_scores(filters.tags))
    if filters.category is not None:
        found.append(labels.member_scores(filters.category))
    return found


def inside_first(paths: list[str], folder: PathLike | None) -> list[str]:
    """A photo's files, those under `folder` first: a photo that came through the folder filter is
    shown where it is there (stable: otherwise the oldest first)."""
    if folder is None:
        return paths
    inside = os.path.join(os.path.abspath(os.path.expanduser(folder)), "")
    return sorted(paths, key=lambda path: not path.startswith(inside))
