"""The three evaluations over search.classify: what is computed, not how it is printed (cli.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ..classify.features import DEFAULT_BATCH, DEFAULT_CHUNK_IMAGES, encode_image_files
from ..classify.metrics import mean_per_class_recall, retrieval_recall, top_k_accuracy
from ..classify.probe import fit_probe
from ..classify.zeroshot import build_classifier
from .data import CaptionedImages, ImageFolder

if TYPE_CHECKING:
    from ..clip.encoder import RuClip

SHOTS = (1, 2, 4, 8, 16)  # examples per class, as the seed's Figure 7
SEEDS = 3
RECALL_AT = (1, 5, 10)


@dataclass(frozen=True)
class EncodeOptions:
    """How image files become vectors (search.classify.features.encode_image_files)."""

    cache_root: Path | None
    fast_jpeg: bool = True
    batch_size: int = DEFAULT_BATCH
    workers: int | None = None
    chunk_images: int = DEFAULT_CHUNK_IMAGES
    progress: bool = True


@dataclass
class Tally:
    """How many image vectors a run read from the cache and how many it encoded."""

    from_cache: int = 0
    encoded: int = 0


def image_vectors(
    model: RuClip, files: Sequence[Path], label: str, options: EncodeOptions, tally: Tally
) -> npt.NDArray[np.float32]:
    done = encode_image_files(
        model,
        files,
        cache_root=options.cache_root,
        label=label,
        fast_jpeg=options.fast_jpeg,
        batch_size=options.batch_size,
        workers=options.workers,
        chunk_images=options.chunk_images,
        progress=options.progress,
    )
    tally.from_cache += done.from_cache
    tally.encoded += done.encoded
    return done.vectors


def _cache_label(name: str) -> str:
    return name.replace("/", "-")


@dataclass(frozen=True)
class ZeroShotResult:
    top1: float
    top5: float
    mean_per_class: float
    images: int
    classes: int
    prompts_per_class: float
    cache: Tally


def zeroshot(
    model: RuClip,
    folder: ImageFolder,
    phrasings: Sequence[Sequence[str]],
    templates: Sequence[str],
    options: EncodeOptions,
    *,
    ensemble: bool = True,
) -> ZeroShotResult:
    """Top-1, top-5 and mean per-class recall of the zero-shot classifier on every image of `folder`."""
    classifier = build_classifier(model, phrasings, templates, ensemble=ensemble, names=folder.classes)
    tally = Tally()
    vectors = image_vectors(model, folder.files, _cache_label(folder.name), options, tally)
    logits = classifier.logits(vectors)
    labels = np.asarray(folder.labels)
    prompts = sum(len(p) * len(templates) if ensemble else 1 for p in phrasings) / len(phrasings)
    return ZeroShotResult(
        top_k_accuracy(logits, labels, 1),
        top_k_accuracy(logits, labels, 5),
        mean_per_class_recall(logits, labels),
        len(folder.files),
        len(folder.classes),
        prompts,
        tally,
    )


@dataclass(frozen=True)
class FewShotRow:
    shots: int
    accuracy: tuple[float, ...]  # one per seed
    c: tuple[float, ...]  # the C each seed's probe was fitted with

    @property
    def mean(self) -> float:
        return float(np.mean(self.accuracy))

    @property
    def spread(self) -> float:
        """The standard deviation over seeds (0 for one seed)."""
        return float(np.std(self.accuracy))


@dataclass(frozen=True)
class FewShotResult:
    rows: list[FewShotRow]
    cache: Tally


def draw_examples(labels: npt.NDArray[np.int64], shots: int, seed: int) -> npt.NDArray[np.int64]:
    """`shots` rows of each class, drawn without replacement with `seed`, sorted."""
    rng = np.random.default_rng(seed)
    rows = [rng.choice(np.flatnonzero(labels == label), shots, replace=False) for label in np.unique(labels)]
    return np.sort(np.concatenate(rows))


def fewshot(
    model: RuClip,
    folder: ImageFolder,
    train: ImageFolder | None,
    options: EncodeOptions,
    *,
    shots: Sequence[int] = SHOTS,
    seeds: int = SEEDS,
    c: float | None = None,
) -> FewShotResult:
    """The linear-probe protocol: for each k in `shots` and each seed, a probe fitted on k examples per
    class (from `train`, else from `folder`, the rest of which is then the test set), its top-1 accuracy
    on the test images."""
    tally = Tally()
    vectors = image_vectors(model, folder.files, _cache_label(folder.name), options, tally)
    labels = np.asarray(folder.labels)
    if train is not None:
        train_vectors = image_vectors(model, train.files, _cache_label(train.name), options, tally)
        train_labels = np.asarray(train.labels)
    rows = []
    for k in shots:
        accuracy, chosen_c = [], []
        for seed in range(seeds):
            if train is None:
                picked = draw_examples(labels, k, seed)
                test = np.setdiff1d(np.arange(len(labels)), picked)
                probe = fit_probe(vectors[picked], labels[picked], c=c, seed=seed)
                accuracy.append(float((probe.predict(vectors[test]) == labels[test]).mean()))
            else:
                picked = draw_examples(train_labels, k, seed)
                probe = fit_probe(train_vectors[picked], train_labels[picked], c=c, seed=seed)
                accuracy.append(float((probe.predict(vectors) == labels).mean()))
            chosen_c.append(probe.c)
        rows.append(FewShotRow(k, tuple(accuracy), tuple(chosen_c)))
    return FewShotResult(rows, tally)


@dataclass(frozen=True)
class RetrievalResult:
    text_to_image: dict[int, float]
    image_to_text: dict[int, float]
    images: int
    captions: int
    cache: Tally


def retrieval(model: RuClip, pairs: CaptionedImages, options: EncodeOptions) -> RetrievalResult:
    """Recall@1/5/10 both ways over the captions file's pairs (search.classify.metrics.retrieval_recall)."""
    tally = Tally()
    vectors = image_vectors(model, pairs.files, _cache_label(pairs.name), options, tally)
    texts = model.encode_texts(list(pairs.captions))
    recall = retrieval_recall(vectors, texts, np.asarray(pairs.caption_image), RECALL_AT)
    return RetrievalResult(
        recall["text_to_image"], recall["image_to_text"], len(pairs.files), len(pairs.captions), tally
    )
