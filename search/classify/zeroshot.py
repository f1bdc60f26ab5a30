"""The zero-shot classifier: each class's phrasings × prompt templates embedded with the model's text
tower, averaged into one unit vector (prompt ensembling, as the CLIP paper does), and an image's
logits as the cosines of its unit vector to the classes'."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

PLACEHOLDER = "{}"


class TextEncoder(Protocol):
    """What the classifier needs of a model (search.clip.encoder.RuClip is one)."""

    def encode_texts(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


def class_prompts(phrasings: Sequence[str], templates: Sequence[str], *, ensemble: bool = True) -> list[str]:
    """The prompts of one class: every phrasing in every template, or (ensemble=False) the first
    phrasing in the first template only, the single-prompt baseline the ensemble is compared with."""
    if not phrasings or not templates:
        raise ValueError("a class needs at least one phrasing and one template")
    if not ensemble:
        phrasings, templates = phrasings[:1], templates[:1]
    return [template.replace(PLACEHOLDER, phrasing) for phrasing in phrasings for template in templates]


@dataclass(frozen=True)
class ZeroShotClassifier:
    """Unit class vectors (C, D) in the order of `names`; `logits` is a matrix product, no model needed."""

    names: tuple[str, ...]
    vectors: npt.NDArray[np.float32]  # (C, D), rows L2-normalised

    def logits(self, image_vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(N, D) unit image vectors -> (N, C) cosines to each class."""
        return image_vectors @ self.vectors.T

    def predict(self, image_vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        """(N, D) unit image vectors -> (N,) index of the most similar class."""
        return np.argmax(self.logits(image_vectors), axis=1)


def build_classifier(
    model: TextEncoder,
    classes: Sequence[Sequence[str]],
    templates: Sequence[str],
    *,
    ensemble: bool = True,
    names: Sequence[str] | None = None,
) -> ZeroShotClassifier:
    """One class per entry of `classes` (its phrasings, the first is its name unless `names` is given).

    Every prompt is encoded once in one call (the model batches texts of similar length); a class's
    vector is the mean of its prompts' unit vectors, normalised again.
    """
    prompts = [class_prompts(phrasings, templates, ensemble=ensemble) for phrasings in classes]
    encoded = model.encode_texts([prompt for group in prompts for prompt in group])  # (sum of prompts, D)
    vectors = np.empty((len(prompts), encoded.shape[1]), dtype=np.float32)
    start = 0
    for row, group in enumerate(prompts):
        mean = encoded[start : start + len(group)].mean(axis=0)
        vectors[row] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        start += len(group)
    labels = tuple(names) if names is not None else tuple(phrasings[0] for phrasings in classes)
    return ZeroShotClassifier(labels, vectors)
