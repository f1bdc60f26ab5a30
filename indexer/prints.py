"""Pictures' prints for rows indexed without one (built before schema 5, or by the GPU engine,
whose route reads only the JPEG's header): each file is decoded again for its print alone; its
vector, facts and row stay as they are, so nothing is encoded again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from search.i18n import _

from .scan import FoundFile

if TYPE_CHECKING:  # SQLAlchemy: an unchanged re-run, which imports this module, must not load it
    from search.store import IndexStore

PRINTS_PER_COMMIT = 512  # a stopped build keeps the prints of every finished commit


def fill_prints(
    store: IndexStore,
    unprinted: Sequence[tuple[FoundFile, int]],
    workers: int,
    stop_requested: Callable[[], bool] | None = None,
    progress: bool = False,
) -> int:
    """Decode each (file, row id) for its print and record it; how many prints were recorded. Threads,
    not processes: Pillow decodes and resizes without the GIL, and these files all decoded before."""
    from tqdm import tqdm

    from search.images.decode import print_one

    recorded = 0
    bar = tqdm(total=len(unprinted), desc=_("prints"), unit="img", disable=not progress, smoothing=0.1)
    with bar, ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for start in range(0, len(unprinted), PRINTS_PER_COMMIT):
            if stop_requested is not None and stop_requested():
                break
            chunk = unprinted[start : start + PRINTS_PER_COMMIT]
            prints = pool.map(print_one, [found.path for found, _ in chunk])
            found = {row_id: value for (_, row_id), value in zip(chunk, prints, strict=True) if value is not None}
            store.set_prints(found)
            recorded += len(found)
            bar.update(len(chunk))
    return recorded
