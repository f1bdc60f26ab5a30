"""ruCLIP for Russian photo search: model loading, encoding, and retrieval over an index.

    import search
    model = search.load_model("ruclip-vit-base-patch32-384")   # or a folder path, or "demo"
    vectors = model.encode_texts(["рыжий кот спит на подоконнике"])

Names are imported on first use, so that a decoding worker or an unchanged indexer run does not
pay for torch. The package, by layer, lowest first:

    constants.py, paths.py, errors.py   shared values, where data lives, typed errors (no torch)
    i18n.py, locale/                    the terminal's messages in the user's language (gettext; Russian
                                        by default, English for an English locale)
    lazy.py                             names imported on first use (this file, search.store)
    images/                             every decode: files -> upright pictures, photo facts, the model's
                                        squares (CPU and torch device), uploads, thumbnails
    clip/                               the ruCLIP network: config, tokenizer, preprocessing, checkpoint
                                        files, hub, network, encoder (RuClip), CPU tuning, demo model
    store/                              the storage layer: index.sqlite (all SQL) and the FAISS cache
    query/                              the search API: the query language, SearchRequest, ranking,
                                        hits and groups, wired by PhotoIndex (query/__init__.py)
    classify/                           the zero-shot classifier, the linear probe, their metrics and
                                        the image vectors they are computed on (a resumable cache)
    evaluate/                           `python -m search evaluate`: zero-shot, few-shot, retrieval
    cli.py, __main__.py                 argparse pieces shared by the CLIs; `python -m search`
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_exports

_EXPORTS = {
    "DEFAULT_MODEL": "constants",
    "DEMO_MODEL": "constants",
    "resolve_model": "clip.hub",
    "PUBLISHED_CONFIGS": "clip.config",
    "ModelConfig": "clip.config",
    "RuClip": "clip.encoder",
    "load_model": "clip.encoder",
    "CheckpointError": "errors",
    "ImageLoadError": "errors",
    "ImageProblem": "errors",
    "ModelNotFoundError": "errors",
    "RuClipError": "errors",
    "IndexStoreError": "errors",
    "StoreProblem": "errors",
    "ModelProblem": "errors",
    "DATABASE_FILE": "store",
    "image_suffixes": "images.formats",
    "verify_index": "store.verify",
    "backup_index": "store.backup",
    "restore_index": "store.backup",
    "cached_thumbnail": "store.thumbnails",
    "Hit": "query.results",
    "DuplicateGroup": "query.results",
    "EmptyReason": "query.results",
    "SearchResults": "query.results",
    "Filters": "query.request",
    "SearchRequest": "query.request",
    "QueryError": "query.language",
    "QueryProblem": "query.language",
    "IndexStats": "store",
    "Failure": "store",
    "PhotoIndex": "query.photo_index",
    "CollectionLabels": "labels.collection",
    "open_labels": "labels.collection",
    "TagSummary": "labels.results",
    "CategorySummary": "labels.results",
    "Member": "labels.results",
    "LabelError": "errors",
    "LabelProblem": "errors",
    "open_index": "query.photo_index",
    "load_search_model": "query.photo_index",
    "recorded_model": "query.photo_index",
    "duplicate_groups": "query.groups",
    "RUSSIAN_PROMPTS": "query.vectors",
    "load_image": "images.open",
    "PhotoFacts": "images.facts",
}

__all__ = [
    "CategorySummary",
    "CollectionLabels",
    "LabelError",
    "LabelProblem",
    "Member",
    "TagSummary",
    "open_labels",
    "CheckpointError",
    "DATABASE_FILE",
    "DEFAULT_MODEL",
    "DEMO_MODEL",
    "DuplicateGroup",
    "EmptyReason",
    "Failure",
    "Filters",
    "Hit",
    "ImageLoadError",
    "ImageProblem",
    "IndexStats",
    "IndexStoreError",
    "ModelConfig",
    "ModelNotFoundError",
    "ModelProblem",
    "PUBLISHED_CONFIGS",
    "PhotoFacts",
    "PhotoIndex",
    "QueryError",
    "QueryProblem",
    "RUSSIAN_PROMPTS",
    "RuClip",
    "RuClipError",
    "SearchRequest",
    "SearchResults",
    "StoreProblem",
    "backup_index",
    "cached_thumbnail",
    "duplicate_groups",
    "image_suffixes",
    "load_image",
    "load_model",
    "load_search_model",
    "open_index",
    "recorded_model",
    "resolve_model",
    "restore_index",
    "verify_index",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from .clip.config import PUBLISHED_CONFIGS, ModelConfig
    from .clip.encoder import RuClip, load_model
    from .clip.hub import resolve_model
    from .constants import DEFAULT_MODEL, DEMO_MODEL
    from .errors import (
        CheckpointError,
        ImageLoadError,
        ImageProblem,
        IndexStoreError,
        LabelError,
        LabelProblem,
        ModelNotFoundError,
        ModelProblem,
        RuClipError,
        StoreProblem,
    )
    from .images.facts import PhotoFacts
    from .images.formats import image_suffixes
    from .images.open import load_image
    from .labels.collection import CollectionLabels, open_labels
    from .labels.results import CategorySummary, Member, TagSummary
    from .query.groups import duplicate_groups
    from .query.language import QueryError, QueryProblem
    from .query.photo_index import PhotoIndex, load_search_model, open_index, recorded_model
    from .query.request import Filters, SearchRequest
    from .query.results import DuplicateGroup, EmptyReason, Hit, SearchResults
    from .query.vectors import RUSSIAN_PROMPTS
    from .store import DATABASE_FILE, Failure, IndexStats
    from .store.backup import backup_index, restore_index
    from .store.thumbnails import cached_thumbnail
    from .store.verify import verify_index
