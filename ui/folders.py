"""The folders offered by the folder filter: the photo folders and their subfolders (albums)."""

from __future__ import annotations

import os

MAX_DEPTH = 2  # root/album/sub-album: deep enough for phone exports and year/event trees
MAX_FOLDERS = 500  # a select box longer than this helps nobody


def photo_folders(roots: list[str], skip: str | None = None, max_depth: int = MAX_DEPTH) -> list[str]:
    """Each root followed by its visible subfolders, depth-first in name order, without `skip`
    (the index folder, when it lies among the photos). Lists folders only (no file is opened),
    so it costs the same for ten photos or a million."""
    found: list[str] = []
    skipped = os.path.abspath(skip) if skip else None

    def walk(folder: str, depth: int) -> None:
        if len(found) >= MAX_FOLDERS or os.path.abspath(folder) == skipped:
            return
        found.append(folder)
        if depth == max_depth:
            return
        try:
            with os.scandir(folder) as entries:
                children = sorted(e.path for e in entries if e.is_dir() and not e.name.startswith("."))
        except OSError:  # an unmounted disk or a folder without permission: offer what can be seen
            return
        for child in children:
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return found


def folder_choices(roots: list[str], skip: str | None = None) -> list[str]:
    """The folder filter's choices beside «Все папки»: photo_folders, less a single root (it is
    «Все папки» itself; with several roots each of them is a real choice)."""
    found = photo_folders(roots, skip)
    return found[1:] if len(roots) == 1 and found[:1] == roots else found
