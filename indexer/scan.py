"""Folder -> the image files in it, with size and mtime: the first stage of a build.

Recursive; image suffixes in any letter case; hidden folders and the index's own folder skipped;
symlinked folders followed once (a loop cannot trap the walk); unreadable folders reported, not fatal.
Which paths count is PhotoFilter's, the one definition the watcher's events are judged by too.
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

from search.i18n import _, ngettext

from .errors import PhotoFolderError, PhotoFolderProblem

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
            others = sum(count for _suffix, count in common[shown:])
            parts.append(ngettext("{count} other", "{count} others", others).format(count=others))
        return ngettext(
            "skipped {count} file that is not an image: {kinds}",
            "skipped {count} files that are not images: {kinds}",
            total,
        ).format(count=total, kinds=", ".join(parts))


def hidden(name: str) -> bool:
    """A hidden file or folder (.thumbnails, .git, .Trash-1000, our own .partial files): never a photo."""
    return name.startswith(".")


def suffix_of(name: str) -> str:
    """The suffix as os.path.splitext takes it, lower-cased, cheaper (no dot: the last letter, which is
    never a suffix, since every suffix starts with one)."""
    return name[name.rfind(".") :].lower()


@dataclass(frozen=True)
class PhotoFilter:
    """Which paths under a photo folder a build looks at: not hidden, not in a skipped folder (the
    index's own), and for a file, a wanted suffix. The scan walks by it; the watcher judges events by it."""

    root: str  # absolute
    suffixes: frozenset[str]  # lower case, with the dot
    skipped: frozenset[str]  # each skipped folder as given (absolute) and resolved

    @classmethod
    def of(cls, root: Path | str, suffixes: Iterable[str], skip: Iterable[Path] = ()) -> PhotoFilter:
        folders = [os.fspath(folder) for folder in skip]
        skipped = {os.path.abspath(folder) for folder in folders} | {os.path.realpath(folder) for folder in folders}
        return cls(os.path.abspath(root), frozenset(s.lower() for s in suffixes), frozenset(skipped))

    def skips_folder(self, folder: str) -> bool:
        """A folder the scan does not walk into (compared resolved: a symlink to it is skipped too)."""
        return os.path.realpath(folder) in self.skipped

    def looks_at(self, path: str, folder: bool) -> bool:
        """Whether a path (an event's, say) is one the scan would look at: under the root, no hidden
        part, not inside a skipped folder, and (for a file) with a wanted suffix."""
        relative = os.path.relpath(path, self.root)
        if relative.startswith(os.pardir) or any(hidden(part) for part in Path(relative).parts):
            return False
        if any(path == skip or path.startswith(os.path.join(skip, "")) for skip in self.skipped):
            return False
        return folder or suffix_of(os.path.basename(path)) in self.suffixes


def check_photo_folder(root: Path) -> None:
    """Raise PhotoFolderError when `root` is missing, not a folder, or unreadable: an error, not an
    empty collection (which would build an empty index, or, on a re-run, look as if every photo had
    been deleted)."""
    if not os.path.isdir(root):
        raise PhotoFolderError(
            _(
                "Photo folder {root} does not exist or is not a folder (an unmounted disk?). Nothing was changed."
            ).format(root=root),
            PhotoFolderProblem.MISSING,
        )
    try:
        with os.scandir(root) as entries:
            next(entries, None)
    except OSError as exc:
        raise PhotoFolderError(
            _(
                "Photo folder {root} cannot be read ({value}). Nothing was changed. Check its permissions "
                "(the folder needs read and execute rights for you), or pick another PHOTOS folder."
            ).format(root=root, value=exc.strerror or exc),
            PhotoFolderProblem.UNREADABLE,
        ) from None


def scan_folder(root: Path, suffixes: Iterable[str], skip: Iterable[Path] = ()) -> ScanResult:
    """Every file under `root` whose suffix (lower-cased) is in `suffixes`, skipping `skip` folders."""
    return scan_photos(PhotoFilter.of(root, suffixes, skip))


def scan_photos(photos: PhotoFilter) -> ScanResult:
    """Every file under photos.root that `photos` looks at."""
    root = Path(photos.root)
    wanted = photos.suffixes
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
        if (info.st_dev, info.st_ino) in seen_folders or photos.skips_folder(folder):
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
            if hidden(name):
                continue
            try:
                if entry.is_dir(follow_symlinks=True):
                    subfolders.append(entry.path)
                elif (suffix := suffix_of(name)) in wanted:
                    info = entry.stat(follow_symlinks=True)
                    if S_ISREG(info.st_mode):  # not a fifo or a device that happens to be named .jpg
                        result.files.append(FoundFile(entry.path, info.st_size, info.st_mtime_ns))
                else:  # counted by name: no stat, so a skipped fifo counts too (rare, harmless)
                    skipped[suffix if "." in name else _("(no suffix)")] += 1
            except OSError as exc:  # a dangling symlink, a file removed mid-scan
                log.debug("skipping %s: %s", entry.path, exc)
        stack.extend(sorted(subfolders, reverse=True))  # depth-first, in name order
    result.files.sort()  # by path: paths are unique
    return result
