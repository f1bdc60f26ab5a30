"""The evaluation's figures, as the CLIP paper counts them: numpy on scores, no model involved."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def top_k_hits(scores: npt.NDArray[np.floating], labels: npt.NDArray[np.integer], k: int) -> npt.NDArray[np.bool_]:
    """(N, C) scores, (N,) true class indices -> (N,) whether the true class is among the k highest."""
    k = min(k, scores.shape[1])
    # argpartition: the k best in any order, which is all a hit needs.
    best = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # (N, k)
    return (best == labels[:, None]).any(axis=1)


def top_k_accuracy(scores: npt.NDArray[np.floating], labels: npt.NDArray[np.integer], k: int = 1) -> float:
    """Share of rows whose true class is among their k highest scores."""
    return float(top_k_hits(scores, labels, k).mean())


def mean_per_class_recall(scores: npt.NDArray[np.floating], labels: npt.NDArray[np.integer]) -> float:
    """Top-1 recall of each class present in `labels`, averaged over those classes (the CLIP paper's
    metric for Oxford Pets, Flowers-102, Caltech-101, FGVC Aircraft: classes of unequal size)."""
    hits = top_k_hits(scores, labels, 1)
    return float(np.mean([hits[labels == label].mean() for label in np.unique(labels)]))


def retrieval_recall(
    image_vectors: npt.NDArray[np.floating],
    caption_vectors: npt.NDArray[np.floating],
    caption_image: npt.NDArray[np.integer],
    ks: Sequence[int] = (1, 5, 10),
) -> dict[str, dict[int, float]]:
    """Recall@k both ways over image–caption pairs, counted as the CLIP paper does.

    `caption_image[j]` is the index of caption j's image. Text → image: a caption is found if its image
    is among its k most similar images. Image → text: an image is found if any of its captions is among
    its k most similar captions. Returns {"text_to_image": {k: recall}, "image_to_text": {k: recall}}.
    """
    similarity = caption_vectors @ image_vectors.T  # (T, I) cosines of unit rows
    own = similarity[np.arange(len(caption_image)), caption_image]  # (T,)
    # A caption's rank: how many images score strictly higher than its own (ties count in its favour).
    text_rank = (similarity > own[:, None]).sum(axis=1)  # (T,)
    # An image's rank: the best rank among its captions, each ranked among all captions for that image.
    per_image = similarity.T  # (I, T)
    image_rank = np.full(len(image_vectors), np.iinfo(np.int64).max)
    for caption, image in enumerate(caption_image):
        rank = int((per_image[image] > per_image[image, caption]).sum())
        image_rank[image] = min(image_rank[image], rank)
    with_captions = np.unique(caption_image)  # an image without a caption is no query
    return {
        "text_to_image": {k: float((text_rank < k).mean()) for k in ks},
        "image_to_text": {k: float((image_rank[with_captions] < k).mean()) for k in ks},
    }
