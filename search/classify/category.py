"""A personal category taught by a few examples: the linear probe (probe.py) fitted on the user's
photos of it against their «не то» and a sample of the rest of the collection, with an optional text
as a zero-shot prior.

The user marks only what the category is (and sometimes what it is not), so the rest of the
collection stands in for the negatives: unlabelled photos are mostly not members, and weighed all
together as much as the examples, the few members among them only blur the boundary a little (the
usual positive-unlabelled approximation). The probe is fitted on the vectors whitened by that
sample (centred, and each direction divided by its spread in the collection, the covariance shrunk
a little toward a sphere): what varies most among the user's photos (a model's words: colour, the
object) would otherwise swamp a few examples' common trait in a direction where the collection
varies little (a background, a framing); whitening is linear, so it folds back into the weights.
A text («рыжий кот») adds its cosine to each photo's score, z-scored over that sample, with a
weight that fades as examples come (the examples then say more than the words); since both parts
are linear in the photo's vector, the stored model is one weight vector and a bias, and a photo is
a member when sigmoid(vector · weights + bias) reaches one half.
BENCHMARKS.md has how precision grows with the number of examples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .probe import fit_probe

# The probe's inverse regularisation on the whitened vectors (unit spread in every direction); a few
# examples are too few to choose it on a split (BENCHMARKS.md compares the values tried on the demo).
CATEGORY_C = 1.0
# The sample's covariance is shrunk this much toward the sphere of its mean variance: 2000 photos
# (or a small collection's few hundred) estimate the weakest of 512 directions poorly.
WHITENING_SHRINKAGE = 0.05
UNWHITENED_C = 1000.0  # the C of a probe on the raw unit vectors (no unlabelled photo to whiten by)
BACKGROUND_PHOTOS = 2000  # unlabelled photos sampled as the presumed non-members
NEGATIVE_WEIGHT = 2.0  # a «не то» counts twice a positive: the user looked at it and said no
PRIOR_STRENGTH = 2.0  # the text's z-score × this is added to the logit, with no example…
PRIOR_HALF_EXAMPLES = 4  # …and half of that with this many examples
MEMBER_SCORE = 0.5  # a photo is a member from this probability on


@dataclass(frozen=True)
class CategoryModel:
    """score(x) = sigmoid(x · weights + bias); a member from MEMBER_SCORE on."""

    weights: npt.NDArray[np.float32]  # (D,)
    bias: float

    def scores(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(N, D) unit vectors -> (N,) probabilities of membership."""
        logits = vectors @ self.weights + np.float32(self.bias)
        return (1.0 / (1.0 + np.exp(-np.clip(logits, -60, 60)))).astype(np.float32)


def background_sample(ids: npt.NDArray[np.int64], excluded: set[int], seed: int) -> npt.NDArray[np.int64]:
    """Up to BACKGROUND_PHOTOS of `ids`, none of `excluded`, the same for the same seed."""
    pool = np.array([i for i in ids.tolist() if i not in excluded], dtype=np.int64)
    if len(pool) <= BACKGROUND_PHOTOS:
        return pool
    return np.sort(np.random.default_rng(seed).choice(pool, BACKGROUND_PHOTOS, replace=False))


def whitening(background: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(mean, T) such that (x - mean) @ T has about unit spread in every direction over `background`
    (its covariance shrunk by WHITENING_SHRINKAGE toward a sphere, so T is finite with few photos)."""
    mean = background.astype(np.float64).mean(axis=0)
    centred = background.astype(np.float64) - mean
    covariance = centred.T @ centred / len(centred)
    sphere = float(np.trace(covariance)) / len(covariance)
    covariance = (1 - WHITENING_SHRINKAGE) * covariance + WHITENING_SHRINKAGE * max(sphere, 1e-12) * np.eye(
        len(covariance)
    )
    values, vectors = np.linalg.eigh(covariance)
    return mean, vectors / np.sqrt(np.maximum(values, 1e-12))[None, :]


def train_category(
    positives: npt.NDArray[np.float32],
    negatives: npt.NDArray[np.float32],
    background: npt.NDArray[np.float32],
    text_vector: npt.NDArray[np.float32] | None = None,
    seed: int = 0,
) -> CategoryModel:
    """Fit a category on unit vectors: (P, D) members, (Q, D) «не то», (B, D) unlabelled photos.

    Needs one member or more and something to tell them from (a «не то» or an unlabelled photo);
    the caller says which is missing (ValueError otherwise)."""
    if not len(positives):
        raise ValueError("a category needs at least one example")
    if not len(negatives) and not len(background):
        raise ValueError("a category needs photos that are not in it")
    count = len(positives)
    # Without unlabelled photos (a collection of only examples and «не то») nothing to whiten by.
    mean, whiten = whitening(background) if len(background) > 1 else (np.zeros(positives.shape[1]), None)
    vectors = np.vstack([positives, *(part for part in (negatives, background) if len(part))]).astype(np.float32)
    labels = np.concatenate([np.ones(count), np.zeros(len(negatives) + len(background))]).astype(np.int64)
    weights = np.concatenate(
        [
            np.ones(count),
            np.full(len(negatives), NEGATIVE_WEIGHT),
            np.full(len(background), count / max(len(background), 1)),  # all together as much as the examples
        ]
    ).astype(np.float32)
    features = ((vectors - mean) @ whiten).astype(np.float32) if whiten is not None else vectors
    probe = fit_probe(
        features, labels, c=CATEGORY_C if whiten is not None else UNWHITENED_C, seed=seed, sample_weight=weights
    )
    # Two columns [0, z] for the binary probe (probe.py): z is the member's logit, on the whitened
    # vectors; folded back: z = ((x - mean) @ T) · u + c = x · (T u) + (c - mean · T u).
    u = (probe.weights[1] - probe.weights[0]).astype(np.float64)
    w64 = whiten @ u if whiten is not None else u
    w = w64.astype(np.float32)
    b = float(probe.bias[1] - probe.bias[0]) - float(mean @ w64)
    if text_vector is not None:
        sample = background if len(background) else vectors
        cosines = sample @ text_vector
        spread = max(float(cosines.std()), 1e-6)
        weight = PRIOR_STRENGTH * PRIOR_HALF_EXAMPLES / (PRIOR_HALF_EXAMPLES + count)
        w = w + (weight / spread) * text_vector.astype(np.float32)
        b -= weight * float(cosines.mean()) / spread
    return CategoryModel(w, b)
