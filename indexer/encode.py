"""Decoded pictures -> the rows the index writer takes: the encode stage of a build.

A batch goes in as decode results (an 8-bit square and its metadata, or a failure with its reason)
and comes out as store records: IndexedImage with its unit vector, or FailedImage. Those records
are all the writer knows, so any other source (a Ray pipeline, a GPU decoder) feeds it the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from search.clip.encoder import RuClip
from search.store import FailedImage, IndexedImage

from .decode import Decoded, Failed
from .scan import FoundFile

Row = IndexedImage | FailedImage


def encode_batch(model: RuClip, results: list[Decoded | Failed], files: Mapping[str, FoundFile]) -> list[Row]:
    """One batch through the image encoder; failures keep their place. `files` gives each path's
    size and mtime as scanned: what the index records for it."""
    decoded = [r for r in results if isinstance(r, Decoded)]
    vectors = iter(model.encode_squares(np.stack([r.pixels for r in decoded])) if decoded else ())
    rows: list[Row] = []
    for result in results:
        found = files[result.path]
        if isinstance(result, Decoded):
            facts = (result.width, result.height, result.taken_at, result.camera, result.content_hash)
            rows.append(IndexedImage(found, next(vectors), *facts))
        else:
            rows.append(FailedImage(found, str(result.reason), result.detail))
    return rows


def encode_in_batches(
    model: RuClip, results: Iterable[Decoded | Failed], files: Mapping[str, FoundFile], batch_size: int
) -> Iterator[list[Row]]:
    """Group results into batches of `batch_size` files and encode each."""
    pending: list[Decoded | Failed] = []
    for result in results:
        pending.append(result)
        if len(pending) >= batch_size:
            yield encode_batch(model, pending, files)
            pending = []
    if pending:
        yield encode_batch(model, pending, files)
