"""The vocabulary embedded for an index's model, and photos' tags and categories written from their
vectors (a matrix product per chunk of photos; nothing is decoded)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ..classify.category import MEMBER_SCORE, CategoryModel
from ..classify.tag_vocabulary import NEUTRAL_PHRASINGS, VOCABULARY_FORMAT, read_templates, vocabulary_of
from ..classify.tagging import TagVectors, assign_tags, embed_phrasings
from ..classify.zeroshot import TextEncoder
from ..settings import settings
from ..store import IndexStore
from ..store.labels import CategoryRecord, StoredTag, TagSource

NEUTRAL_NAME = "—"  # the neutral rival's row in the tags table (never shown)


class ScaledTextEncoder(TextEncoder, Protocol):
    """A text encoder that also says its logit scale and its weights' fingerprint (RuClip and
    OnnxRuClip are ones)."""

    @property
    def logit_scale(self) -> float: ...

    @property
    def fingerprint(self) -> str: ...


def embed_vocabulary(store: IndexStore, model: ScaledTextEncoder, model_folder: Path | None) -> None:
    """Store the tags of the model's vocabulary, the user's own tags and the neutral rival, each
    embedded by `model` (the user's embedded again from their phrasings); no photo keeps a tag."""
    own = store.labels.tags((TagSource.USER,))
    vocabulary = [spec for spec in vocabulary_of(model_folder) if spec.name not in {tag.name for tag in own}]
    entries = [(spec.name, spec.group, TagSource.VOCABULARY, spec.phrasings) for spec in vocabulary]
    entries += [(tag.name, tag.group, TagSource.USER, tag.phrasings) for tag in own]
    entries.append((NEUTRAL_NAME, "", TagSource.NEUTRAL, NEUTRAL_PHRASINGS))
    vectors = _embedded_once_per_model(model, [tuple(entry[3]) for entry in entries], tuple(read_templates()))
    store.labels.replace_tags(
        [(*entry, vector) for entry, vector in zip(entries, vectors, strict=True)], float(model.logit_scale)
    )


def _embedded_once_per_model(
    model: ScaledTextEncoder, phrasings: list[tuple[str, ...]], templates: tuple[str, ...]
) -> npt.NDArray[np.float32]:
    """embed_phrasings, kept in this installation's cache by the model's weights and the very texts:
    the vocabulary is a few thousand prompts (seconds of text encoding on a CPU), the same for every
    index of a model, so a new index of a known model reuses them. A cache that cannot be read or
    written is only not used."""
    digest = hashlib.sha256(f"format {VOCABULARY_FORMAT}\n{model.fingerprint}\n".encode())
    digest.update(json.dumps([phrasings, templates], ensure_ascii=False).encode())
    path = settings().cache_dir / "tag-vectors" / f"{digest.hexdigest()[:32]}.npy"
    try:
        cached = np.load(path, allow_pickle=False)
        if cached.shape[0] == len(phrasings) and cached.dtype == np.float32:
            return cached
    except (OSError, ValueError):
        pass
    vectors = embed_phrasings(model, phrasings, templates)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.part")
        with open(partial, "wb") as handle:
            np.save(handle, vectors, allow_pickle=False)
        os.replace(partial, path)
    except OSError:
        pass
    return vectors


def embed_tag(model: TextEncoder, phrasings: Sequence[str]) -> npt.NDArray[np.float32]:
    """One tag's unit vector, embedded as the vocabulary's are."""
    return embed_phrasings(model, [tuple(phrasings)], read_templates())[0]


@dataclass(frozen=True)
class StoredTagVectors:
    """The index's tags as the classifier takes them, with each one's row id."""

    ids: tuple[int, ...]
    vectors: TagVectors


def stored_tag_vectors(store: IndexStore) -> StoredTagVectors | None:
    """The index's tag vectors, or None when the vocabulary was never embedded for it."""
    scale = store.labels.tag_scale()
    neutral = store.labels.tags((TagSource.NEUTRAL,))
    if scale is None or not neutral:
        return None
    tags: list[StoredTag] = store.labels.tags()
    dim = len(neutral[0].vector)
    matrix = np.vstack([tag.vector for tag in tags]) if tags else np.empty((0, dim), dtype=np.float32)
    vectors = TagVectors(
        tuple(tag.name for tag in tags), tuple(tag.group for tag in tags), matrix, neutral[0].vector, scale
    )
    return StoredTagVectors(tuple(tag.id for tag in tags), vectors)


def category_model(record: CategoryRecord) -> CategoryModel:
    return CategoryModel(record.weights, record.bias)


def write_tags(
    store: IndexStore,
    tags: StoredTagVectors,
    ids: npt.NDArray[np.int64],
    vectors: npt.NDArray[np.float32],
    threshold: float,
    only: Sequence[int] | None = None,
) -> int:
    """The tags of these photos anew from their vectors; `only`: just these tag ids (a new tag).
    Returns how many (photo, tag) pairs were written."""
    assigned = assign_tags(vectors, tags.vectors, threshold)
    tag_ids = np.array(tags.ids, dtype=np.int64)
    pairs = [
        (int(ids[row]), int(tag_ids[column]), float(share))
        for row, column, share in zip(assigned.rows, assigned.tags, assigned.shares, strict=True)
        if only is None or int(tag_ids[column]) in only
    ]
    store.labels.write_photo_tags(ids.tolist(), pairs, only)
    return len(pairs)


def members_of(
    model: CategoryModel, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]
) -> list[tuple[int, float]]:
    """(id, score) of the photos the category takes, of these."""
    scores = model.scores(vectors)
    keep = np.flatnonzero(scores >= MEMBER_SCORE)
    return [(int(ids[i]), float(scores[i])) for i in keep]


def write_categories(
    store: IndexStore,
    categories: Sequence[CategoryRecord],
    ids: npt.NDArray[np.int64],
    vectors: npt.NDArray[np.float32],
) -> None:
    """These photos' membership of each category anew."""
    for record in categories:
        store.labels.write_members(record.id, ids.tolist(), members_of(category_model(record), ids, vectors))
