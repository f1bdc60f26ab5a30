"""Decoded pictures -> embeddings, in batches: the encode stage of a build.

Failures pass through with their batch, so that the writer records them in order with the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from search.clip.encoder import RuClip

from .decode import Decoded, Failed


@dataclass(frozen=True)
class EncodedBatch:
    """What the writer takes from any source (local workers, a Ray pipeline, a GPU decoder)."""

    results: list[Decoded | Failed]
    embeddings: npt.NDArray[np.float32] | None  # (number of Decoded in results, embed_dim), unit rows


def encode_batch(model: RuClip, results: list[Decoded | Failed]) -> EncodedBatch:
    decoded = [r for r in results if isinstance(r, Decoded)]
    embeddings = model.encode_squares(np.stack([r.pixels for r in decoded])) if decoded else None
    return EncodedBatch(results, embeddings)


def encode_in_batches(model: RuClip, results: Iterable[Decoded | Failed], batch_size: int) -> Iterator[EncodedBatch]:
    """Group results into batches of `batch_size` files and encode each."""
    pending: list[Decoded | Failed] = []
    for result in results:
        pending.append(result)
        if len(pending) >= batch_size:
            yield encode_batch(model, pending)
            pending = []
    if pending:
        yield encode_batch(model, pending)
