"""ruCLIP for Russian photo search: model loading, encoding, and retrieval over an index.

    import search
    model = search.load_model("ruclip-vit-base-patch32-384")   # or a folder path, or "demo"
    vectors = model.encode_texts(["рыжий кот спит на подоконнике"])

Names are imported on first use, so that a decoding worker or an unchanged indexer run does not
pay for torch. The package, by layer, lowest first:

    constants.py, paths.py, errors.py   shared values, where data lives, typed errors (no torch)
    lazy.py                             names imported on first use (this file, search.store)
    images/                             every decode: files -> upright pictures, photo facts, the model's
                                        squares (CPU and torch device), uploads, thumbnails
    clip/                               the ruCLIP network: config, tokenizer, preprocessing, checkpoint
                                        files, hub, network, encoder (RuClip), CPU tuning, demo model
    store/                              the storage layer: index.sqlite (all SQL) and the FAISS cache
    query.py, index.py                  the query language and the search API (PhotoIndex)
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
    "Hit": "index",
    "IndexStats": "index",
    "PhotoIndex": "index",
    "open_index": "index",
    "load_image": "images.open",
    "PhotoFacts": "images.facts",
    "cached_thumbnail": "store.thumbnails",
}

__all__ = [
    "CheckpointError",
    "DEFAULT_MODEL",
    "DEMO_MODEL",
    "Hit",
    "ImageLoadError",
    "ImageProblem",
    "IndexStats",
    "IndexStoreError",
    "ModelConfig",
    "ModelNotFoundError",
    "PUBLISHED_CONFIGS",
    "PhotoFacts",
    "PhotoIndex",
    "RuClip",
    "RuClipError",
    "StoreProblem",
    "cached_thumbnail",
    "load_image",
    "load_model",
    "open_index",
    "resolve_model",
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
        ModelNotFoundError,
        RuClipError,
        StoreProblem,
    )
    from .images.facts import PhotoFacts
    from .images.open import load_image
    from .index import Hit, IndexStats, PhotoIndex, open_index
    from .store.thumbnails import cached_thumbnail
