"""Folder -> the image files in it, with size and mtime: the first stage of a build.

Recursive; image suffixes in any letter case; hidden folders and the index's own folder skipped;
symlinked folders followed once (a loop cannot trap the walk); unreadable folders reported, not fatal.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import NamedTuple

log = logging.getLogger(__name__)

HASH_CHUNK_BYTES = 1 << 20


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


def scan_folder(root: Path, suffixes: Iterable[str], skip: Iterable[Path] = ()) -> ScanResult:
    """Every file under `root` whose suffix (lower-cased) is in `suffixes`, skipping `skip` folders."""
    root = Path(os.path.abspath(root))
    wanted = frozenset(s.lower() for s in suffixes)
    skipped = {os.path.realpath(p) for p in skip}
    result = ScanResult(root)
    seen_folders: set[tuple[int, int]] = set()  # (device, inode): each real folder once
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            info = os.stat(folder)
        except OSError as exc:
            result.unreadable_folders.append(f"{folder}: {exc.strerror}")
            continue
        if (info.st_dev, info.st_ino) in seen_folders or os.path.realpath(folder) in skipped:
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
                elif name[name.rfind(".") :].lower() in wanted:
                    info = entry.stat(follow_symlinks=True)
                    if S_ISREG(info.st_mode):  # not a fifo or a device that happens to be named .jpg
                        result.files.append(FoundFile(entry.path, info.st_size, info.st_mtime_ns))
            except OSError as exc:  # a dangling symlink, a file removed mid-scan
                log.debug("skipping %s: %s", entry.path, exc)
        stack.extend(sorted(subfolders, reverse=True))  # depth-first, in name order
    result.files.sort()  # by path: paths are unique
    return result


def content_hash(path: str) -> str:
    """blake2b of the file's bytes: finds a renamed or moved photo without decoding it."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
