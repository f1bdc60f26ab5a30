"""Zero-shot tags: a vocabulary's tags embedded once per model with the prompt templates (the same
prompt ensembling as the zero-shot classifier, zeroshot.py), and a photo's tags from its stored unit
vector by a matrix product: no image is decoded again.

The rule: within each group of tags, the photo's cosines to the group's tags and to a neutral rival
(«фото», «изображение»: nothing of this group in particular) are turned into shares by a softmax at
the model's own logit scale (the temperature it was trained with, so a share is the model's
probability that this prompt, of these, fits the photo); a tag whose share reaches the threshold is
the photo's. The rival lets a group say "none of these" and lets a group of one tag (a user's own
«гитара») work at all; a threshold below one half lets a photo carry two tags of one group (a cat
and a dog). What the default threshold rests on is measured in BENCHMARKS.md (the demo's generated
photos; a real ruCLIP model could not be measured here) and `RUPHOTO_TAG_THRESHOLD` tunes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..settings import DEFAULT_TAG_THRESHOLD as DEFAULT_THRESHOLD
from .tag_vocabulary import NEUTRAL_PHRASINGS, TagSpec
from .zeroshot import TextEncoder, build_classifier


@dataclass(frozen=True)
class TagVectors:
    """Unit text vectors of the tags (T, D) and of the neutral rival (D,), with each tag's group."""

    names: tuple[str, ...]
    groups: tuple[str, ...]
    vectors: npt.NDArray[np.float32]
    neutral: npt.NDArray[np.float32]
    scale: float  # the model's logit scale

    def __post_init__(self) -> None:
        if len(self.names) != len(self.groups) or len(self.names) != len(self.vectors):
            raise ValueError("one name and one group per tag vector")


def embed_phrasings(
    model: TextEncoder, phrasings: Sequence[Sequence[str]], templates: Sequence[str]
) -> npt.NDArray[np.float32]:
    """(len(phrasings), D) unit vectors: each entry's phrasings × templates, averaged (build_classifier)."""
    return build_classifier(model, [list(p) for p in phrasings], templates).vectors


def embed_tags(model: TextEncoder, specs: Sequence[TagSpec], templates: Sequence[str], scale: float) -> TagVectors:
    """Every tag's vector and the neutral rival's, in one pass over the text tower."""
    vectors = embed_phrasings(model, [spec.phrasings for spec in specs] + [NEUTRAL_PHRASINGS], templates)
    return TagVectors(
        tuple(spec.name for spec in specs),
        tuple(spec.group for spec in specs),
        vectors[:-1].copy(),
        vectors[-1].copy(),
        float(scale),
    )


@dataclass(frozen=True)
class Assigned:
    """Tags of a batch of photos as three parallel arrays: photo row, tag index, share."""

    rows: npt.NDArray[np.int64]
    tags: npt.NDArray[np.int64]
    shares: npt.NDArray[np.float32]


def tag_shares(image_vectors: npt.NDArray[np.float32], tags: TagVectors) -> npt.NDArray[np.float32]:
    """(N, D) unit image vectors -> (N, T) each tag's share in its group (see the module's docstring)."""
    logits = (image_vectors @ tags.vectors.T) * np.float32(tags.scale)  # (N, T)
    neutral = (image_vectors @ tags.neutral) * np.float32(tags.scale)  # (N,)
    shares = np.empty_like(logits)
    groups = np.array(tags.groups)
    for group in dict.fromkeys(tags.groups):
        columns = np.flatnonzero(groups == group)
        block = logits[:, columns]
        top = np.maximum(block.max(axis=1), neutral)[:, None]  # subtracted: exp never overflows
        exp = np.exp(block - top)
        shares[:, columns] = exp / (exp.sum(axis=1, keepdims=True) + np.exp(neutral[:, None] - top))
    return shares


def assign_tags(
    image_vectors: npt.NDArray[np.float32], tags: TagVectors, threshold: float = DEFAULT_THRESHOLD
) -> Assigned:
    """(N, D) unit image vectors -> each photo's tags: those whose share reaches `threshold`."""
    if not len(tags.names) or not len(image_vectors):
        empty = np.empty(0, dtype=np.int64)
        return Assigned(empty, empty.copy(), np.empty(0, dtype=np.float32))
    shares = tag_shares(image_vectors, tags)
    rows, columns = np.nonzero(shares >= threshold)
    return Assigned(rows.astype(np.int64), columns.astype(np.int64), shares[rows, columns].astype(np.float32))
