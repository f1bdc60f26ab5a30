"""Which optional image formats this Python can decode, found without importing Pillow.

The indexer's scan needs the suffixes to look for; an unchanged run must not pay for importing
Pillow and its plugins to learn them. The decoding processes register the plugins themselves
(preprocess.register_optional_formats); a test keeps the two answers equal.
"""

from __future__ import annotations

from importlib.util import find_spec

from ..constants import AVIF_SUFFIXES, HEIF_SUFFIXES


def _installed(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing or broken
        return False


def optional_image_suffixes() -> frozenset[str]:
    """HEIC/HEIF with pillow-heif; AVIF with Pillow's own decoder (Pillow ≥ 11.3 built with libavif)
    or the pillow-avif-plugin. (pillow-heif before 1.0 also opened AVIF; with such an old pair
    of packages .avif files are not looked for.)"""
    found: set[str] = set()
    if _installed("pillow_heif"):
        found |= HEIF_SUFFIXES
    if _installed("PIL._avif") or _installed("pillow_avif"):
        found |= AVIF_SUFFIXES
    return frozenset(found)
