"""How well a model finds coloured shapes by Russian queries: precision@k on fresh pictures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from search.clip.encoder import RuClip
from search.i18n import _

from .captions import all_queries
from .world import LabelledPicture


def precision_at_k(
    query_vectors: npt.NDArray[np.float32],
    image_vectors: npt.NDArray[np.float32],
    relevant: npt.NDArray[np.bool_],
    k: int,
) -> npt.NDArray[np.float64]:
    """Share of relevant images among each query's top k by cosine; relevant is (queries, images)."""
    scores = query_vectors @ image_vectors.T  # (Q, N)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # (Q, k)
    return np.take_along_axis(relevant, top, axis=1).mean(axis=1)


@dataclass(frozen=True)
class ShapeQueryReport:
    k: int
    per_query: dict[str, float]  # «жёлтая звезда» -> precision@k

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.per_query.values())))

    @property
    def worst(self) -> tuple[str, float]:
        query = min(self.per_query, key=self.per_query.__getitem__)
        return query, self.per_query[query]

    def summary(self) -> str:
        query, value = self.worst
        return _("precision@{k}: mean {mean:.3f} over {queries} queries, worst {worst:.2f} «{query}»").format(
            k=self.k, mean=self.mean, queries=len(self.per_query), worst=value, query=query
        )


def evaluate_shape_queries(model: RuClip, pictures: Sequence[LabelledPicture], k: int = 5) -> ShapeQueryReport:
    """precision@k of the 32 colour+shape queries («красная звезда», …) over labelled `pictures`."""
    queries = all_queries()
    relevant = np.array([[p.colour == colour and p.shape == shape for p in pictures] for _, colour, shape in queries])
    image_vectors = model.encode_images([p.image for p in pictures])
    query_vectors = model.encode_texts([text for text, _, _ in queries])
    precision = precision_at_k(query_vectors, image_vectors, relevant, k)
    return ShapeQueryReport(k, {text: float(p) for (text, _, _), p in zip(queries, precision, strict=True)})
