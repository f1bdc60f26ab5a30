"""ruCLIP for Russian photo search: model loading, encoding, and retrieval over an index.

    import search
    model = search.load_model("ruclip-vit-base-patch32-384")   # or a folder path, or "demo"
    vectors = model.encode_texts(["рыжий кот спит на подоконнике"])

Names are imported on first use, so that `import search.preprocess` in a decoding worker does
not pay for torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "DEFAULT_MODEL": "hub",
    "DEMO_MODEL": "hub",
    "resolve_model": "hub",
    "PUBLISHED_CONFIGS": "config",
    "ModelConfig": "config",
    "RuClip": "encoder",
    "load_model": "encoder",
    "CheckpointError": "errors",
    "ImageLoadError": "errors",
    "ModelNotFoundError": "errors",
    "RuClipError": "errors",
    "IndexStoreError": "errors",
    "Hit": "index",
    "IndexStats": "index",
    "PhotoIndex": "index",
    "open_index": "index",
    "load_image": "preprocess",
}

__all__ = [
    "CheckpointError",
    "DEFAULT_MODEL",
    "DEMO_MODEL",
    "Hit",
    "ImageLoadError",
    "IndexStats",
    "IndexStoreError",
    "ModelConfig",
    "ModelNotFoundError",
    "PUBLISHED_CONFIGS",
    "PhotoIndex",
    "RuClip",
    "RuClipError",
    "load_image",
    "load_model",
    "open_index",
    "resolve_model",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'search' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from .config import PUBLISHED_CONFIGS, ModelConfig
    from .encoder import RuClip, load_model
    from .errors import CheckpointError, ImageLoadError, IndexStoreError, ModelNotFoundError, RuClipError
    from .hub import DEFAULT_MODEL, DEMO_MODEL, resolve_model
    from .index import Hit, IndexStats, PhotoIndex, open_index
    from .preprocess import load_image
