"""The planner alone: a scan and the index's known rows in, what a build must do out."""

from __future__ import annotations

import os
from pathlib import Path

from indexer.plan import MASS_DELETION_MIN_FILES, make_plan
from indexer.scan import FoundFile
from search.images import file_hash
from search.store import KnownRow


def known(row_id: int, path: str, size: int = 10, mtime_ns: int = 1, indexed=True, digest=None) -> KnownRow:
    return KnownRow(row_id, os.fsencode(path), size, mtime_ns, indexed, digest)


def rows(*items: KnownRow) -> dict[bytes, KnownRow]:
    return {row.path: row for row in items}


def test_new_changed_and_unchanged_files_are_told_apart_by_path_size_and_mtime():
    scan = [
        FoundFile("/p/same.jpg", 10, 1),
        FoundFile("/p/bigger.jpg", 11, 1),
        FoundFile("/p/touched.jpg", 10, 2),
        FoundFile("/p/new.jpg", 10, 1),
    ]
    plan = make_plan(scan, rows(known(1, "/p/same.jpg"), known(2, "/p/bigger.jpg"), known(3, "/p/touched.jpg")))
    assert plan.unchanged == 1
    assert [f.path for f in plan.new] == ["/p/new.jpg"]
    assert sorted((f.path, row_id) for f, row_id in plan.changed) == [("/p/bigger.jpg", 2), ("/p/touched.jpg", 3)]
    assert sorted(f.path for f in plan.to_decode) == ["/p/bigger.jpg", "/p/new.jpg", "/p/touched.jpg"]
    assert plan.vanished == [] and plan.renamed == [] and plan.deletion_refused is None


def test_a_moved_photo_keeps_its_row_when_its_content_matches(tmp_path: Path):
    moved = tmp_path / "album" / "moved.jpg"
    moved.parent.mkdir()
    moved.write_bytes(b"the same bytes as before")
    size = moved.stat().st_size
    old = known(7, str(tmp_path / "old.jpg"), size=size, digest=file_hash(str(moved)))
    plan = make_plan([FoundFile(str(moved), size, 5)], rows(old))
    assert [(f.path, row_id) for f, row_id in plan.renamed] == [(str(moved), 7)]
    assert plan.new == [] and plan.vanished == []


def test_same_size_other_content_is_a_new_file_and_a_deletion(tmp_path: Path):
    other = tmp_path / "other.jpg"
    other.write_bytes(b"different bytes, same length!!!")
    size = other.stat().st_size
    old = known(7, str(tmp_path / "old.jpg"), size=size, digest="0" * 32)
    plan = make_plan([FoundFile(str(other), size, 5)], rows(old))
    assert [f.path for f in plan.new] == [str(other)] and plan.renamed == []
    assert plan.vanished == [7]


def test_a_failed_row_is_never_a_rename_candidate(tmp_path: Path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"bytes")
    failed = known(3, str(tmp_path / "was.jpg"), size=5, indexed=False, digest=file_hash(str(photo)))
    plan = make_plan([FoundFile(str(photo), 5, 1)], rows(failed))
    assert [f.path for f in plan.new] == [str(photo)] and plan.vanished == [3]


def test_an_empty_scan_deletes_nothing():
    plan = make_plan([], rows(known(1, "/p/a.jpg"), known(2, "/p/b.jpg")))
    assert plan.vanished == [1, 2]  # what would go ...
    assert plan.deletion_refused and "unmounted" in plan.deletion_refused  # ... and why it does not


def test_most_of_a_folder_vanishing_at_once_is_refused_unless_allowed():
    count = 2 * MASS_DELETION_MIN_FILES
    index = rows(*(known(i, f"/p/{i}.jpg") for i in range(1, count + 1)))
    kept = [FoundFile(f"/p/{i}.jpg", 10, 1) for i in range(1, 4)]
    assert make_plan(kept, index).deletion_refused is not None
    assert make_plan(kept, index, allow_mass_deletion=True).deletion_refused is None


def test_a_few_deletions_go_through():
    index = rows(*(known(i, f"/p/{i}.jpg") for i in range(1, 11)))
    kept = [FoundFile(f"/p/{i}.jpg", 10, 1) for i in range(1, 3)]  # 8 of 10 gone, but fewer than the minimum
    plan = make_plan(kept, index)
    assert plan.deletion_refused is None and sorted(plan.vanished) == list(range(3, 11))


def test_an_unchanged_photo_without_a_print_is_decoded_for_it_alone():
    unprinted = KnownRow(1, os.fsencode("/p/old.jpg"), 10, 1, True, "aa", unprinted=True)
    plan = make_plan([FoundFile("/p/old.jpg", 10, 1), FoundFile("/p/new.jpg", 10, 1)], rows(unprinted))
    assert plan.unchanged == 1 and [(f.path, row_id) for f, row_id in plan.unprinted] == [("/p/old.jpg", 1)]
    assert [f.path for f in plan.to_decode] == ["/p/new.jpg"]  # not encoded again
    alone = make_plan([FoundFile("/p/old.jpg", 10, 1)], rows(unprinted))
    assert alone.changes_anything  # the quick path must not skip it
    printed = make_plan([FoundFile("/p/old.jpg", 10, 1)], rows(known(1, "/p/old.jpg")))
    assert not printed.changes_anything and printed.unprinted == []
