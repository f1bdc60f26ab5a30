"""ruCLIP for Russian photo search: model loading, encoding, and (later) retrieval over an index.

    import search
    model = search.load_model("ruclip-vit-base-patch32-384")   # or a folder path
    vectors = model.encode_texts(["рыжий кот спит на подоконнике"])
"""

from .config import PUBLISHED_CONFIGS, ModelConfig
from .encoder import RuClip, load_model
from .errors import CheckpointError, ImageLoadError, ModelNotFoundError, RuClipError
from .hub import DEFAULT_MODEL, resolve_model
from .preprocess import load_image

__all__ = [
    "DEFAULT_MODEL",
    "PUBLISHED_CONFIGS",
    "CheckpointError",
    "ImageLoadError",
    "ModelConfig",
    "ModelNotFoundError",
    "RuClip",
    "RuClipError",
    "load_image",
    "load_model",
    "resolve_model",
]
