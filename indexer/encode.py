"""Decoded pictures -> the rows the index writer takes: the encode stage of a build.

A batch goes in as decode results (an 8-bit square and the photo's facts, or a failure with its reason)
and comes out as store records: IndexedImage with its unit vector, or FailedImage. Those records
are all the writer knows, so any other source (a Ray pipeline, a GPU decoder) feeds it the same way.
A file with the same bytes as one the index holds, or as another of the batch, is not encoded
again: it takes that vector (backups and exports copy whole folders of photos).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from search.images.decoded import Decoded, Failed
from search.store import FailedImage, IndexedImage

from .scan import FoundFile

if TYPE_CHECKING:
    from search.clip.encoder import RuClip
    from search.clip.onnx_model import OnnxRuClip

Row = IndexedImage | FailedImage
Vector = np.ndarray
KnownVectors = Callable[[Sequence[str]], Mapping[str, Vector]]  # content hashes -> vectors the index holds


def _no_known_vectors(hashes: Sequence[str]) -> Mapping[str, Vector]:
    return {}


def encode_batch(
    model: RuClip | OnnxRuClip,
    results: list[Decoded | Failed],
    files: Mapping[str, FoundFile],
    known: KnownVectors = _no_known_vectors,
) -> list[Row]:
    """One batch through the image encoder; failures keep their place. `files` gives each path's
    size and mtime as scanned: what the index records for it. `known` looks up the vectors of
    contents already indexed (IndexStore.vectors_by_hash)."""
    return rows_of_batch(
        results, files, known, lambda todo: model.encode_squares(np.stack([r.square.pixels for r in todo]))
    )


def rows_of_batch(
    results: list[Decoded | Failed],
    files: Mapping[str, FoundFile],
    known: KnownVectors,
    encode: Callable[[list[Decoded]], np.ndarray],
) -> list[Row]:
    """The store records of one batch. `encode` is asked for the vectors of the decoded files whose
    content neither the index nor an earlier file of the batch holds, one file per content (the local
    engine runs the model there; a cluster engine hands over what its encoders returned)."""
    decoded = [r for r in results if isinstance(r, Decoded)]
    vectors: dict[str, Vector] = dict(known([r.facts.content_hash for r in decoded])) if decoded else {}
    reused = set(vectors)
    # The first file of each content not known yet.
    to_encode = {r.facts.content_hash: r for r in reversed(decoded) if r.facts.content_hash not in vectors}
    if to_encode:
        vectors.update(zip(to_encode, encode(list(to_encode.values())), strict=True))
    first_of = {r.facts.content_hash: r.path for r in reversed(decoded)}  # the batch's own first file of each content
    rows: list[Row] = []
    for result in results:
        found = files[result.path]
        if isinstance(result, Decoded):
            digest = result.facts.content_hash
            again = digest in reused or first_of[digest] != result.path
            rows.append(IndexedImage(file=found, vector=vectors[digest], facts=result.facts, reused=again))
        else:
            rows.append(FailedImage(file=found, reason=result.reason, detail=result.detail))
    return rows
