"""A request's filters -> the ids a search may return (the store answers; FAISS is then restricted)."""

from __future__ import annotations

import os

import numpy as np
import numpy.typing as npt

from ..store import IndexStore
from .request import Filters, PathLike


def allowed_ids(store: IndexStore, filters: Filters) -> npt.NDArray[np.int64] | None:
    """Ids of the indexed photos that pass the filters (None when there are no filters)."""
    if not filters.active:
        return None
    return store.ids_matching(filters.folder, filters.date_from, filters.date_to)


def inside_first(paths: list[str], folder: PathLike | None) -> list[str]:
    """A photo's files, those under `folder` first: a photo that came through the folder filter is
    shown where it is there (stable: otherwise the oldest first)."""
    if folder is None:
        return paths
    inside = os.path.join(os.path.abspath(os.path.expanduser(folder)), "")
    return sorted(paths, key=lambda path: not path.startswith(inside))
