"""Where the page's thumbnails live in the index folder, and pruning those of photos gone from it.

The page (ui/thumbnails.py) reads and writes them through cached_thumbnail, with the JPEG rendered
by search.images; the indexer prunes them after a build or a watch
round, so the layout is here, free of Pillow and SQLAlchemy: pruning reads the rows through the
standard library's sqlite3 and must not slow an indexer run down by importing either.

    <index>/thumbnails/<id % 256, two hex digits>/<id>-<size>-<mtime_ns>-<long side>.jpg

The name carries the photo's size and mtime as the page saw them, so an edited photo gets a new
thumbnail; the row id keys it, so a renamed photo (same row) keeps its thumbnail.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from .layout import DATABASE_FILE, RowState, connect_read_only

THUMBNAIL_DIR = "thumbnails"  # inside the index folder
SHARDS = 256  # subfolders by id: no folder of a hundred thousand files
PARTIAL_SUFFIX = ".part"  # a thumbnail being written, renamed into place when whole
PARTIAL_MAX_AGE_S = 3600.0  # a .part file this old was left by a page that died while writing it

_NAME = re.compile(r"(\d+)-(\d+)-(-?\d+)-(\d+)\.jpg")


def thumbnail_folder(index_dir: str | os.PathLike[str], image_id: int) -> Path:
    """The subfolder that holds the thumbnails of photo `image_id`."""
    return Path(index_dir) / THUMBNAIL_DIR / f"{image_id % SHARDS:02x}"


def thumbnail_path(index_dir: str | os.PathLike[str], image_id: int, size: int, mtime_ns: int, long_side: int) -> Path:
    """The cached thumbnail of photo `image_id`, as it was when it had this size and mtime."""
    return thumbnail_folder(index_dir, image_id) / f"{image_id}-{size}-{mtime_ns}-{long_side}.jpg"


def older_thumbnails(index_dir: str | os.PathLike[str], image_id: int, long_side: int) -> Iterator[Path]:
    """The thumbnails of this size made of photo `image_id` at any size and mtime (the stale ones
    when the photo was edited)."""
    folder = thumbnail_folder(index_dir, image_id)
    return folder.glob(f"{image_id}-*-{long_side}.jpg")


def cached_thumbnail(
    index_dir: str | os.PathLike[str],
    image_id: int,
    size: int,
    mtime_ns: int,
    long_side: int,
    make: Callable[[], bytes],
) -> bytes:
    """The thumbnail of photo `image_id` (as it is with this size and mtime) from the disk cache, or
    `make()` now and cached; the stale ones of an older version of the photo are deleted then.
    A read-only index folder only costs making it on every view."""
    cached = thumbnail_path(index_dir, image_id, size, mtime_ns, long_side)
    try:
        return cached.read_bytes()
    except FileNotFoundError:
        pass
    data = make()
    folder = cached.parent
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


def live_photos(index_dir: str | os.PathLike[str]) -> dict[int, tuple[int, int]] | None:
    """Row id -> (size, mtime_ns) of every photo the index holds (indexed rows and identical copies),
    or None when index.sqlite cannot be read: then nothing may be pruned."""
    path = Path(index_dir) / DATABASE_FILE
    if not path.is_file():
        return None
    try:
        connection = connect_read_only(path)
    except sqlite3.Error:
        return None
    try:
        rows = connection.execute(
            "SELECT id, size, mtime_ns FROM images WHERE state != ?", (RowState.FAILED.value,)
        ).fetchall()
    except sqlite3.Error:  # damaged, locked for too long, or an older schema: prune another time
        return None
    finally:
        connection.close()
    return {row_id: (size, mtime_ns) for row_id, size, mtime_ns in rows}


def prune_thumbnails(index_dir: str | os.PathLike[str], live: Mapping[int, tuple[int, int]] | None = None) -> int:
    """Delete the cached thumbnails of photos the index no longer holds, and those of an older
    version of a photo that was edited since; returns how many files went.

    `live` is live_photos(index_dir) unless given. Only files named as this module names them (and
    .part files left for an hour) are touched: anything else a user put there stays. Without a
    thumbnails folder it costs one stat, so every build may call it."""
    root = Path(index_dir) / THUMBNAIL_DIR
    if not root.is_dir():
        return 0
    if live is None:
        live = live_photos(index_dir)
        if live is None:
            return 0
    removed = 0
    for shard in _subfolders(root):
        for entry in _entries(shard):
            if _is_dead(entry, live):
                try:
                    os.unlink(entry.path)
                    removed += 1
                except OSError:
                    pass  # a read-only index folder, or the page removed it first: nothing to do
    return removed


def _subfolders(root: Path) -> list[str]:
    try:
        with os.scandir(root) as entries:
            return [entry.path for entry in entries if entry.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _entries(folder: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return [entry for entry in entries if entry.is_file(follow_symlinks=False)]
    except OSError:
        return []


def _is_dead(entry: os.DirEntry[str], live: Mapping[int, tuple[int, int]]) -> bool:
    """Whether a file in the cache is the thumbnail of a photo gone (or changed), or a stale .part."""
    if entry.name.endswith(PARTIAL_SUFFIX):
        try:
            return time.time() - entry.stat().st_mtime > PARTIAL_MAX_AGE_S
        except OSError:
            return False
    match = _NAME.fullmatch(entry.name)
    if match is None:
        return False  # not ours
    image_id, size, mtime_ns = (int(part) for part in match.groups()[:3])
    return live.get(image_id) != (size, mtime_ns)
