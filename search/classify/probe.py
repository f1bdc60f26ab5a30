"""The linear probe: logistic regression on unit image vectors (scikit-learn, as CLIP's linear-probe
protocol uses), its inverse regularisation C chosen on a validation split held out of the examples,
then refit on all of them. The fitted weights are plain numpy: applying a probe needs no scikit-learn.

scikit-learn is a dependency of the install (personal categories need it on every laptop); an
environment that lacks it anyway raises ProbeUnavailable when a probe is fitted, whose message says
how to add it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..errors import RuClipError
from ..i18n import _

# The values of C tried on the validation split: a log grid as CLIP's protocol searches (it refines
# further by bisection, which few-shot validation sets of a few photos cannot tell apart).
C_GRID: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0, 1000.0)
# Without a validation split (one example of some class): unit vectors have small dot products, so a
# weakly regularised probe; the middle of the grid.
DEFAULT_C = 10.0
VALIDATION_SHARE = 0.25  # of each class's examples, at least one when a class has two or more
MAX_ITERATIONS = 1000
INSTALL_HINT = "pip install 'scikit-learn>=1.5'"


class ProbeUnavailable(RuClipError):
    """scikit-learn is not installed: the probe cannot be fitted (applying a fitted one still works)."""


def probe_available() -> bool:
    """Whether scikit-learn can be imported (imported here: only a probe's fitting asks)."""
    try:
        import sklearn.linear_model  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class LinearProbe:
    """A fitted probe: `scores(x) = x @ weights.T + bias`, one column per entry of `classes`."""

    classes: npt.NDArray  # (K,) the labels, sorted, as they were given
    weights: npt.NDArray[np.float32]  # (K, D)
    bias: npt.NDArray[np.float32]  # (K,)
    c: float  # the inverse regularisation it was fitted with

    def scores(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(N, D) -> (N, K) logits; the largest is the predicted class (softmax gives probabilities)."""
        return vectors @ self.weights.T + self.bias

    def predict(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray:
        """(N, D) -> (N,) predicted labels."""
        return self.classes[np.argmax(self.scores(vectors), axis=1)]


def _fit(
    vectors: npt.NDArray[np.float32],
    labels: npt.NDArray,
    c: float,
    seed: int,
    sample_weight: npt.NDArray[np.float32] | None = None,
) -> LinearProbe:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=MAX_ITERATIONS, random_state=seed)
    with warnings.catch_warnings():
        # A few examples are often separable: lbfgs then stops at max_iter with a warning, while the
        # decision it has reached is already the one more iterations would keep.
        warnings.simplefilter("ignore")
        model.fit(vectors, labels, sample_weight=sample_weight)
    weights, bias = model.coef_.astype(np.float32), model.intercept_.astype(np.float32)
    if len(model.classes_) == 2:
        # A binary model has one row (the second class's logit against the first's): as two columns,
        # [0, z], the argmax and the softmax are the same as the binary model's.
        weights = np.vstack([np.zeros_like(weights), weights])
        bias = np.concatenate([np.zeros_like(bias), bias])
    return LinearProbe(model.classes_, weights, bias, c)


def validation_split(labels: npt.NDArray, seed: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
    """(train rows, validation rows), a share of each class held out, or None when a class has one example."""
    rng = np.random.default_rng(seed)
    train: list[int] = []
    held: list[int] = []
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        if len(rows) < 2:
            return None
        cut = max(1, int(len(rows) * VALIDATION_SHARE))
        held += rows[:cut].tolist()
        train += rows[cut:].tolist()
    return np.array(train, dtype=np.int64), np.array(held, dtype=np.int64)


def fit_probe(
    vectors: npt.NDArray[np.float32],
    labels: Sequence | npt.NDArray,
    *,
    c: float | None = None,
    c_grid: Sequence[float] = C_GRID,
    seed: int = 0,
    sample_weight: npt.NDArray[np.float32] | None = None,
) -> LinearProbe:
    """Fit a probe on (N, D) unit vectors and their N labels (two or more distinct ones).

    c=None chooses C on a validation split (the highest validation accuracy, ties to the smaller C, the
    stronger regularisation) and refits on every example; with one example of some class there is no
    split, and DEFAULT_C is used. `sample_weight`: how much each example counts (a personal
    category weighs its few examples against many unlabelled photos; see category.py).
    """
    if not probe_available():
        raise ProbeUnavailable(
            _("The linear probe needs scikit-learn, which this environment lacks: {hint}").format(hint=INSTALL_HINT)
        )
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        raise ValueError("a probe needs examples of at least two classes")
    if c is None:
        split = validation_split(labels, seed)
        if split is None:
            c = DEFAULT_C
        else:
            train, held = split
            c_grid = sorted(c_grid)
            accuracy = [
                float((_fit(vectors[train], labels[train], grid_c, seed).predict(vectors[held]) == labels[held]).mean())
                for grid_c in c_grid
            ]
            c = c_grid[int(np.argmax(accuracy))]  # argmax: the first best, the smallest C of a tie
    return _fit(vectors, labels, c, seed, sample_weight)
