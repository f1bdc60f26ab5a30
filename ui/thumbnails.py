"""Indexed photo -> small JPEG for the results grid, made on first view and kept in the index folder.

The browser never names a file: the UI asks for an indexed image by its id, gets its path from the
index, and this module reads it only if that path lies inside one of the index's photo folders
(the page's rule). Rendering is search.images', the disk cache search's cached_thumbnail.
"""

from __future__ import annotations

import os
from pathlib import Path

from search import ImageLoadError, ImageProblem, cached_thumbnail
from search.images import PREVIEW_PX, THUMBNAIL_PX, render_jpeg


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


def thumbnail(index_dir: Path, image_id: int, path: str, roots: list[str], long_side: int = THUMBNAIL_PX) -> bytes:
    """JPEG bytes of the photo's thumbnail, from the disk cache or made now and cached.

    The cache file name carries the photo's size and mtime, so an edited photo gets a new
    thumbnail. Raises ImageLoadError for a missing or unreadable file, OutsideFolders for a path
    outside the photo folders.
    """
    stat = _checked(path, roots)
    return cached_thumbnail(
        index_dir, image_id, stat.st_size, stat.st_mtime_ns, long_side, lambda: render_jpeg(path, long_side)
    )


def preview(path: str, roots: list[str], long_side: int = PREVIEW_PX) -> bytes:
    """JPEG bytes of a large view of the photo (not cached on disk: one is looked at at a time)."""
    _checked(path, roots)
    return render_jpeg(path, long_side)
