"""Which image files the indexer looks for: every format Pillow (with its plugins) opens, and camera RAW.

The rule. A suffix is looked for when Pillow's own registry (`Image.registered_extensions()`, after
`Image.init()` and the HEIF/AVIF plugins) maps it to a format Pillow can open (`Image.OPEN`), or to
MPO (multi-picture JPEG, opened by the JPEG opener), except the formats that are not photos by
nature, because Pillow cannot decode their pixels by itself (NOT_PHOTOS below: PostScript/EPS needs
Ghostscript and is vector art; WMF/EMF are vector drawings Pillow renders only on Windows; BUFR,
GRIB and HDF5 are scientific data stubs that need an outside handler; MPEG is a video Pillow only
identifies; PDF and PALM are save-only). Everything else stays, however rare: ICO/CUR, DDS, QOI,
PSD, TGA, PPM/PGM/PBM/PNM, JPEG 2000, SGI, PCX, XBM/XPM, FITS, GIF's and APNG's first frame, ...
Camera RAW suffixes (constants.RAW_SUFFIXES) join when rawpy is installed.

An unchanged re-run must not pay for importing Pillow and its plugins to learn the set (it is
~0.2 s and the whole run is ~0.15 s), so the set is computed once and kept in a small JSON file in
the user's cache folder, keyed by where and when Pillow, the plugins and rawpy were installed (a
stat of each package's __init__.py, found without importing it). An upgrade makes a new key.

The decoders open those formats after register_optional_formats (once per process:
ensure_optional_formats), which is why the scan's rule and the decoders agree.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from functools import cache
from importlib.util import find_spec
from pathlib import Path

from ..constants import AVIF_SUFFIXES, HEIF_SUFFIXES, RAW_SUFFIXES
from ..settings import settings

# Pillow format names (Image.registered_extensions() values) that the scan leaves out, with why.
NOT_PHOTOS = {
    "EPS": "PostScript: vector art, rasterised only through Ghostscript",
    "WMF": "Windows metafile (and EMF): vector drawings, rendered only on Windows",
    "BUFR": "meteorological data; Pillow has only a stub that needs an outside handler",
    "GRIB": "meteorological data; Pillow has only a stub that needs an outside handler",
    "HDF5": "scientific data; Pillow has only a stub that needs an outside handler",
    "MPEG": "video; Pillow identifies it but cannot decode it",
}
# Formats Pillow registers without an opener of their own because another format's opener opens them.
OPENED_BY_ANOTHER = {"MPO": "JPEG"}
# Packages whose installation changes the answer; their stat is the cache key.
_PACKAGES = ("PIL", "pillow_heif", "pillow_avif", "rawpy")
_RULE_VERSION = 1  # bump when the rule above changes: old cache files are then ignored


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


def raw_suffixes() -> frozenset[str]:
    """The camera RAW suffixes, when rawpy is there to decode them."""
    return RAW_SUFFIXES if _installed("rawpy") else frozenset()


def registry_suffixes() -> frozenset[str]:
    """The rule applied to Pillow's registry, now (imports Pillow and registers its plugins)."""
    from PIL import Image

    register_optional_formats()
    Image.init()
    openable = set(Image.OPEN) | {name for name, opener in OPENED_BY_ANOTHER.items() if opener in Image.OPEN}
    return frozenset(
        suffix.lower()
        for suffix, name in Image.registered_extensions().items()
        if name in openable and name not in NOT_PHOTOS
    )


def register_optional_formats() -> frozenset[str]:
    """Enable HEIC/HEIF/AVIF when their Pillow plugins are installed; returns the suffixes gained."""
    from PIL import Image

    gained: set[str] = set()
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        gained |= HEIF_SUFFIXES
        if hasattr(pillow_heif, "register_avif_opener"):
            pillow_heif.register_avif_opener()
            gained |= AVIF_SUFFIXES
    except Exception:  # noqa: BLE001 - absent or broken plugin: those formats stay off
        pass
    if not AVIF_SUFFIXES <= gained:
        try:
            import pillow_avif  # noqa: F401 - registers itself on import

            gained |= AVIF_SUFFIXES
        except Exception:  # noqa: BLE001
            pass
    if hasattr(Image, "registered_extensions") and AVIF_SUFFIXES <= set(Image.registered_extensions()):
        gained |= AVIF_SUFFIXES  # Pillow ≥ 11.3 decodes AVIF itself when built with libavif
    return frozenset(gained)


@cache
def ensure_optional_formats() -> None:
    """register_optional_formats once per process: every opener here calls it before Pillow's Image.open."""
    register_optional_formats()


def _cache_key() -> str:
    parts = [f"rule {_RULE_VERSION}", sys.version]
    for package in _PACKAGES:
        try:
            spec = find_spec(package)
        except (ImportError, ValueError):
            spec = None
        origin = spec.origin if spec is not None else None
        try:
            info = os.stat(origin) if origin else None
        except OSError:
            info = None
        parts.append(f"{package} {origin} {info.st_mtime_ns if info else ''} {info.st_size if info else ''}")
    return hashlib.blake2b("\n".join(parts).encode("utf-8", "surrogateescape"), digest_size=10).hexdigest()


def cache_folder() -> Path:
    """Where the suffix set is cached: Settings.cache_dir ($RUPHOTO_CACHE, else
    $XDG_CACHE_HOME/ruphoto-search, else ~/.cache/ruphoto-search)."""
    return settings().cache_dir


def image_suffixes() -> frozenset[str]:
    """Every suffix the scan looks for (lower case, with the dot): registry_suffixes() ∪ raw_suffixes(),
    read from the cache when this installation has been seen before, else computed and cached."""
    path = cache_folder() / f"image-suffixes-{_cache_key()}.json"
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(cached, list) and all(isinstance(s, str) and s.startswith(".") for s in cached):
            return frozenset(cached) | raw_suffixes()
    except (OSError, ValueError):
        pass  # not cached yet, or unreadable: computed below
    found = registry_suffixes()
    _write_quietly(path, json.dumps(sorted(found)))
    return found | raw_suffixes()


def _write_quietly(path: Path, text: str) -> None:
    """Write atomically (another build may read it meanwhile); a cache that cannot be written
    (a read-only home) only costs the computation again next run."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except OSError:
        Path(temporary).unlink(missing_ok=True)
