"""Indexed photo -> small JPEG for the results grid, made on first view and kept in the index folder.

The browser never names a file: the UI asks for an indexed image by its id, gets its path from the
index, and this module reads it only if that path lies inside one of the index's photo folders.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from PIL import Image

from search.clip.preprocess import load_image, register_optional_formats
from search.errors import ImageLoadError, ImageProblem
from search.store.thumbnails import (
    PARTIAL_SUFFIX,
    THUMBNAIL_DIR,  # noqa: F401 - where the page's callers found it
    older_thumbnails,
    thumbnail_path,
)

THUMBNAIL_PX = 384  # long side: sharp in a 4-column grid on a 1440-px wide page
PREVIEW_PX = 1600  # long side of the large view
JPEG_QUALITY = 85

# HEIC/HEIF/AVIF decoders (pillow-heif), once per process: iPhone photos get thumbnails, and such
# uploads decode, in the page's process as in the indexer's workers.
register_optional_formats()


class OutsideFolders(ImageLoadError):
    """A recorded path outside the index's photo folders: it is never read."""


def inside_roots(path: str | os.PathLike[str], roots: list[str]) -> bool:
    """True when `path` lies inside one of the photo folders (lexically: the indexer follows
    symlinked folders, so a photo may resolve elsewhere, but its recorded path is under a root)."""
    candidate = os.path.abspath(path)  # normalises "..", so a recorded path cannot climb out
    return any(candidate.startswith(os.path.join(os.path.abspath(root), "")) for root in roots)


def _checked(path: str, roots: list[str]) -> os.stat_result:
    if not inside_roots(path, roots):
        raise OutsideFolders(f"{path} is outside the indexed folders; it is not shown.")
    try:
        return os.stat(path)
    except PermissionError:
        raise ImageLoadError(f"{path}: permission denied.", ImageProblem.PERMISSION_DENIED) from None
    except OSError as exc:
        raise ImageLoadError(
            f"{path}: {exc.strerror or exc}; was it moved or deleted since the last build?", ImageProblem.VANISHED
        ) from None


def _render(path: str, long_side: int) -> bytes:
    """Decode upright (EXIF), shrink to `long_side`, encode as JPEG."""
    return jpeg_of(load_image(path, draft_short_side=long_side), long_side)  # JPEGs decode at 1/2..1/8 scale


def jpeg_of(image: Image.Image, long_side: int = THUMBNAIL_PX) -> bytes:
    """A decoded picture (any mode) as a JPEG no larger than `long_side`, e.g. an uploaded HEIC to show back."""
    if image.mode in ("RGBA", "LA", "P", "PA"):  # transparency: flatten on white, as viewers do
        image = image.convert("RGBA")
        flat = Image.new("RGB", image.size, "white")
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    image = image.convert("RGB")
    image.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def thumbnail(index_dir: Path, image_id: int, path: str, roots: list[str], long_side: int = THUMBNAIL_PX) -> bytes:
    """JPEG bytes of the photo's thumbnail, from the disk cache or made now and cached.

    The cache file name carries the photo's size and mtime, so an edited photo gets a new
    thumbnail; the stale one is deleted then (the layout, and pruning the thumbnails of photos gone
    from the index, are search.store.thumbnails'). Raises ImageLoadError for a missing or unreadable file.
    """
    stat = _checked(path, roots)
    cached = thumbnail_path(index_dir, image_id, stat.st_size, stat.st_mtime_ns, long_side)
    folder = cached.parent
    try:
        return cached.read_bytes()
    except FileNotFoundError:
        pass
    data = _render(path, long_side)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in older_thumbnails(index_dir, image_id, long_side):
            stale.unlink(missing_ok=True)
        # Written beside and renamed: a session reading it meanwhile sees the old file or the whole new one.
        with tempfile.NamedTemporaryFile(dir=folder, suffix=PARTIAL_SUFFIX, delete=False) as part:
            part.write(data)
        os.replace(part.name, cached)
    except OSError:
        pass  # a read-only index folder: thumbnails are made on every view instead, nothing breaks
    return data


def preview(path: str, roots: list[str], long_side: int = PREVIEW_PX) -> bytes:
    """JPEG bytes of a large view of the photo (not cached on disk: one is looked at at a time)."""
    _checked(path, roots)
    return _render(path, long_side)
