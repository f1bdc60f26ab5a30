"""The scanner alone: which files of a folder tree a build looks at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from indexer.scan import scan_folder
from search.constants import BASE_IMAGE_SUFFIXES


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def names(tmp_path: Path, result) -> list[str]:
    return [os.path.relpath(found.path, tmp_path) for found in result.files]


def test_image_suffixes_in_any_case_recursively_in_name_order(tmp_path: Path):
    touch(tmp_path / "b" / "IMG_2.JPG")
    touch(tmp_path / "a.png")
    touch(tmp_path / "b" / "c" / "deep.TiFf")
    touch(tmp_path / "notes.txt")
    touch(tmp_path / "movie.mp4")
    result = scan_folder(tmp_path, BASE_IMAGE_SUFFIXES)
    assert names(tmp_path, result) == ["a.png", "b/IMG_2.JPG", "b/c/deep.TiFf"]


def test_size_and_mtime_are_what_the_file_system_says(tmp_path: Path):
    photo = touch(tmp_path / "p.jpg", b"12345")
    os.utime(photo, ns=(1_700_000_000_000_000_000, 1_700_000_000_123_456_789))
    (found,) = scan_folder(tmp_path, {".jpg"}).files
    assert (found.size, found.mtime_ns) == (5, 1_700_000_000_123_456_789)


def test_hidden_entries_and_skipped_folders_are_left_out(tmp_path: Path):
    touch(tmp_path / ".thumbnails" / "t.jpg")
    touch(tmp_path / ".hidden.jpg")
    touch(tmp_path / "index" / "thumbnail.jpg")
    touch(tmp_path / "photo.jpg")
    result = scan_folder(tmp_path, {".jpg"}, skip=[tmp_path / "index"])
    assert names(tmp_path, result) == ["photo.jpg"]


def test_a_symlinked_folder_is_followed_once_and_a_loop_cannot_trap_the_walk(tmp_path: Path):
    touch(tmp_path / "real" / "p.jpg")
    os.symlink(tmp_path / "real", tmp_path / "link")
    os.symlink(tmp_path, tmp_path / "real" / "loop")
    os.symlink(tmp_path / "missing.jpg", tmp_path / "dangling.jpg")
    result = scan_folder(tmp_path, {".jpg"})
    assert len(result.files) == 1 and result.files[0].path.endswith("p.jpg")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders whatever their permissions")
def test_an_unreadable_folder_is_reported_not_fatal(tmp_path: Path):
    touch(tmp_path / "ok.jpg")
    locked = tmp_path / "locked"
    touch(locked / "p.jpg")
    locked.chmod(0)
    try:
        result = scan_folder(tmp_path, {".jpg"})
    finally:
        locked.chmod(0o755)
    assert names(tmp_path, result) == ["ok.jpg"]
    assert result.unreadable_folders and "locked" in result.unreadable_folders[0]


def test_a_name_that_is_not_utf8_is_kept_as_the_file_system_spells_it(tmp_path: Path):
    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.jpg")  # Latin-1 bytes: not valid UTF-8
    with open(raw, "wb") as handle:
        handle.write(b"x")
    (found,) = scan_folder(tmp_path, {".jpg"}).files
    assert os.fsencode(found.path) == raw


def test_the_scan_looks_for_exactly_the_optional_formats_the_decoders_register():
    from search.images.formats import optional_image_suffixes, register_optional_formats

    assert optional_image_suffixes() == register_optional_formats()
