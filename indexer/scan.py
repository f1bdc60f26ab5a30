"""Folder -> the image files in it, with size and mtime: the first stage of a build.

Recursive; image suffixes in any letter case; hidden folders and the index's own folder skipped;
symlinked folders followed once (a loop cannot trap the walk); unreadable folders reported, not fatal.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import NamedTuple

log = logging.getLogger(__name__)


class FoundFile(NamedTuple):
    """A file as the scan saw it (a tuple: a large collection makes a hundred thousand per run)."""

    path: str  # absolute, as the file system spells it (may hold undecodable bytes as surrogates)
    size: int
    mtime_ns: int


@dataclass
class ScanResult:
    root: Path
    files: list[FoundFile] = field(default_factory=list)
    unreadable_folders: list[str] = field(default_factory=list)
    # Files passed over for their suffix ("(no suffix)" for none), counted from the names alone.
    skipped_by_suffix: Counter[str] = field(default_factory=Counter)

    def skipped_line(self, shown: int = 4) -> str | None:
        """'skipped 12 files that are not images: 7 × .txt, 3 × .pdf, 2 × (no suffix)', or None."""
        total = sum(self.skipped_by_suffix.values())
        if not total:
            return None
        common = self.skipped_by_suffix.most_common()
        parts = [f"{count} × {suffix}" for suffix, count in common[:shown]]
        if len(common) > shown:
            parts.append(f"{sum(count for _, count in common[shown:])} others")
        noun = "file that is not an image" if total == 1 else "files that are not images"
        return f"skipped {total} {noun}: {', '.join(parts)}"


def scan_folder(root: Path, suffixes: Iterable[str], skip: Iterable[Path] = ()) -> ScanResult:
    """Every file under `root` whose suffix (lower-cased) is in `suffixes`, skipping `skip` folders."""
    root = Path(os.path.abspath(root))
    wanted = frozenset(s.lower() for s in suffixes)
    skipped_folders = {os.path.realpath(p) for p in skip}
    result = ScanResult(root)
    skipped = result.skipped_by_suffix
    seen_folders: set[tuple[int, int]] = set()  # (device, inode): each real folder once
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            info = os.stat(folder)
        except OSError as exc:
            result.unreadable_folders.append(f"{folder}: {exc.strerror}")
            continue
        if (info.st_dev, info.st_ino) in seen_folders or os.path.realpath(folder) in skipped_folders:
            continue
        seen_folders.add((info.st_dev, info.st_ino))
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            result.unreadable_folders.append(f"{folder}: {exc.strerror}")
            continue
        subfolders = []
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue  # hidden files and folders (.thumbnails, .git, .Trash-1000, our own .partial files)
            try:
                if entry.is_dir(follow_symlinks=True):
                    subfolders.append(entry.path)
                # The suffix as os.path.splitext takes it, cheaper (no dot: one letter, never a suffix).
                elif (suffix := name[name.rfind(".") :].lower()) in wanted:
                    info = entry.stat(follow_symlinks=True)
                    if S_ISREG(info.st_mode):  # not a fifo or a device that happens to be named .jpg
                        result.files.append(FoundFile(entry.path, info.st_size, info.st_mtime_ns))
                else:  # counted by name: no stat, so a skipped fifo counts too (rare, harmless)
                    skipped[suffix if "." in name else "(no suffix)"] += 1
            except OSError as exc:  # a dangling symlink, a file removed mid-scan
                log.debug("skipping %s: %s", entry.path, exc)
        stack.extend(sorted(subfolders, reverse=True))  # depth-first, in name order
    result.files.sort()  # by path: paths are unique
    return result
