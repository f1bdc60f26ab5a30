"""The label stage of a build: the tags and categories of every photo indexed since the last run,
from the vectors just stored (search/labels/apply.py); nothing is decoded or encoded again.

When the vocabulary, the threshold or the model changed since (the labels key, search/classify/
tag_vocabulary.py), the vocabulary is embedded again (the model's text tower, loaded only then) and
every photo is tagged again. A run killed midway starts its chunk over next time: writing a
photo's tags replaces them, and the record of how far the labels reach is written last.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from search.classify.tag_vocabulary import labels_key
from search.settings import settings

from .model_choice import ModelChoice
from .stages import LABEL, StageTimes

if TYPE_CHECKING:
    from search.clip.encoder import RuClip
    from search.store import IndexStore


def labels_key_of(choice: ModelChoice) -> str:
    """What the photos' tags depend on for this build: its model, the vocabulary, the threshold."""
    return labels_key(choice.fingerprint, choice.folder, settings().tag_threshold)


def label_photos(
    store: IndexStore, choice: ModelChoice, load_model: Callable[[], RuClip], stages: StageTimes
) -> tuple[int, bool]:
    """Tag and categorise the photos indexed since the last label stage (all of them after a change
    of vocabulary or model). Returns (photos labelled, whether the vocabulary was embedded anew)."""
    from search.labels.apply import embed_vocabulary, stored_tag_vectors, write_categories, write_tags

    key = labels_key_of(choice)
    recorded, since = store.labels.labelled_up_to()
    renewed = recorded != key or stored_tag_vectors(store) is None
    if renewed:
        embed_vocabulary(store, load_model(), choice.folder)
        since = 0
    tags = stored_tag_vectors(store)
    assert tags is not None  # just embedded
    categories = [record for record in store.labels.categories() if record.model_fingerprint == choice.fingerprint]
    threshold = settings().tag_threshold
    labelled = 0
    with stages.timed(LABEL) as timed:
        store.labels.forget_photos(store.labels.rows_left_since(since))
        now, chunks = store.labels.changed_vectors(since)
        for ids, vectors in chunks:
            write_tags(store, tags, ids, vectors, threshold)
            write_categories(store, categories, ids, vectors)
            labelled += len(ids)
        store.labels.record_labelled(key, now)
        timed.items = labelled
    return labelled, renewed
