"""The storage layer: schema versions and the upgrade of an old index folder, typed metadata, the
one summary, and SQL kept inside search/store."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

import search
from indexer.scan import FoundFile
from indexer.stats import index_stats
from search.commands import indexer_command
from search.errors import ImageProblem, StoreProblem
from search.images import PhotoFacts
from search.store import (
    DATABASE_FILE,
    SCHEMA_VERSION,
    FailedImage,
    IndexedImage,
    IndexStore,
    MetaKey,
    ModelRecord,
)

from .helpers import REPO_ROOT, SCHEMA_1_INDEX, indexer

# Where the schema-1 index recorded its photos (absolute paths live in index.sqlite).
SCHEMA_1_PHOTOS = Path("/tmp/ruphoto-schema1/photos")
SCHEMA_1_MTIME_S = 1_700_000_000


@pytest.fixture
def schema_1_index(tmp_path: Path):
    """A copy of the schema-1 index folder, its photos back where it recorded them."""
    with open("/tmp/ruphoto-schema1.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs on one machine must not share the folder
        shutil.rmtree(SCHEMA_1_PHOTOS.parent, ignore_errors=True)
        shutil.copytree(SCHEMA_1_INDEX / "photos", SCHEMA_1_PHOTOS)
        for path in SCHEMA_1_PHOTOS.rglob("*"):
            if path.is_file():
                os.utime(path, (SCHEMA_1_MTIME_S, SCHEMA_1_MTIME_S))  # git does not keep mtimes
        index = tmp_path / "index"
        shutil.copytree(SCHEMA_1_INDEX / "index", index)
        try:
            yield index
        finally:
            shutil.rmtree(SCHEMA_1_PHOTOS.parent, ignore_errors=True)


def schema_version(index: Path) -> int:
    with sqlite3.connect(index / DATABASE_FILE) as db:
        return int(db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])


def test_an_index_written_by_the_previous_release_opens_upgraded_and_answers_as_it_did(schema_1_index: Path):
    assert schema_version(schema_1_index) == 1
    index = search.open_index(schema_1_index, device="cpu")
    assert schema_version(schema_1_index) == SCHEMA_VERSION
    expected = [
        json.loads(line)
        for line in (SCHEMA_1_INDEX / "search-красная-звезда.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    hits = index.search("красная звезда", k=len(expected))
    assert [(h.path, h.id) for h in hits] == [(e["path"], e["id"]) for e in expected]
    assert np.allclose([h.score for h in hits], [e["score"] for e in expected], atol=1e-4)
    stats = index.stats()
    assert (stats.images, stats.failed, stats.model) == (6, 1, "demo")


def test_an_upgraded_index_builds_incrementally(schema_1_index: Path):
    added = SCHEMA_1_PHOTOS / "2025 весна" / "новый.jpg"
    shutil.copyfile(next((REPO_ROOT / "data" / "demo" / "photos" / "2024 зима").glob("*.jpg")), added)
    (SCHEMA_1_PHOTOS / "2023 лето" / "IMG_0004.jpg").unlink()
    run = indexer("build", SCHEMA_1_PHOTOS, "--index", schema_1_index, "--quiet")
    assert run.returncode == 0, run.stderr
    assert "unchanged 6, new 1, changed 0, renamed 0, deleted 1" in run.stdout  # the broken file is unchanged too
    assert "6 images searchable" in run.stdout
    index = search.open_index(schema_1_index, device="cpu")
    assert index.id_of(added) > 7  # a new id: ids are never reused
    verify = indexer("verify", "--index", schema_1_index)
    assert verify.returncode == 0 and verify.stdout.startswith("ok: 6 indexed rows"), verify.stdout
    # The step to schema 6 made the empty tables of tags and categories; this build filled them
    # from the stored vectors (the old photos' too, decoded again or not).
    labels = index.labels
    assert {tag.name for tag in labels.tags()} >= {"красный", "звезда"}
    tagged = labels.tags_of([index.id_of(added)])
    assert tagged and tagged[index.id_of(added)]
    assert sum(tag.count for tag in labels.tags()) >= 6


def test_an_index_from_a_newer_release_is_refused_with_a_reason(tmp_path: Path):
    IndexStore(tmp_path, create=True).close()
    with sqlite3.connect(tmp_path / DATABASE_FILE) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(search.IndexStoreError, match="newer version") as caught:
        IndexStore(tmp_path)
    assert caught.value.reason is StoreProblem.NEWER_SCHEMA


def test_a_folder_without_an_index_says_how_to_build_one(tmp_path: Path):
    with pytest.raises(
        search.IndexStoreError, match=re.escape(f"Build one with: {indexer_command()} build PHOTOS --index")
    ) as caught:
        search.open_index(tmp_path / "nothing")
    assert caught.value.reason is StoreProblem.NO_INDEX


def test_metadata_keys_are_members_so_a_typo_fails_loudly():
    assert MetaKey.MODEL_NAME.value == "model_name"
    with pytest.raises(AttributeError):
        MetaKey.MODLE_NAME  # noqa: B018
    with pytest.raises(ValueError):
        MetaKey("modle_name")


def test_the_summary_counts_only_what_is_searchable(tmp_path: Path):
    store = IndexStore(tmp_path, create=True)
    store.record_model(ModelRecord("demo", "f" * 64, 4))
    root = store.add_root(tmp_path)
    unit = np.array([1, 0, 0, 0], dtype=np.float32)
    taken = [datetime(2019, 5, 1), datetime(2021, 7, 1), datetime(2023, 1, 2)]
    store.write_batch(
        root,
        [
            IndexedImage(FoundFile(f"/p/{i}.jpg", 1, 1), unit, PhotoFacts(10, 10, when, None, f"{i:032x}"))
            for i, when in enumerate(taken)
        ],
    )
    # The oldest photo is replaced by a broken file: its date must leave the summary with it.
    store.write_batch(
        root, [FailedImage(FoundFile("/p/0.jpg", 2, 1), ImageProblem.NOT_AN_IMAGE, "/p/0.jpg: not an image")]
    )
    stats = store.summary()
    assert (stats.images, stats.failed) == (2, 1)
    assert (stats.taken_from, stats.taken_to) == (taken[1], taken[2])
    assert stats.failures == {"not a readable image": 1}
    # The reason is written as its value and read back as the enum.
    assert [type(reason) for reason in stats.failures] == [ImageProblem]
    assert [failure.reason for failure in store.failures()] == [ImageProblem.NOT_AN_IMAGE]
    assert type(store.failures()[0].reason) is ImageProblem
    lines = index_stats(tmp_path)  # the CLI prints the same summary
    assert "photos     2 searchable, 1 failed" in lines
    assert "taken      2021-07-01 … 2023-01-02 (EXIF)" in lines


def test_sql_is_written_only_in_the_storage_layer():
    """The check from the issue (`grep -rn "select(\\|execute(\\|text(" indexer ui search`), less
    Streamlit's `st.text(...)`: SQLAlchemy's select() / text() and any .execute() only in search/store."""
    pattern = re.compile(r"(?<![.\w])(select|text)\(|\.execute\(")
    offenders = [
        f"{path.relative_to(REPO_ROOT)}:{number}"
        for package in ("indexer", "ui", "search")
        for path in (REPO_ROOT / package).rglob("*.py")
        if (REPO_ROOT / "search" / "store") not in path.parents
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def test_the_quick_path_reads_what_index_store_reads(tmp_path: Path):
    from search.store.catalog import Catalog
    from search.store.reads import READS, IndexReads

    store = IndexStore(tmp_path, create=True)
    store.record_model(ModelRecord("demo", "f" * 64, 4))
    root = store.add_root(tmp_path / "photos")
    unit = np.array([0, 1, 0, 0], dtype=np.float32)
    store.write_batch(
        root,
        [
            IndexedImage(FoundFile("/p/a.jpg", 3, 30), unit, PhotoFacts(10, 10, None, None, "a" * 32)),
            FailedImage(FoundFile("/p/b.jpg", 4, 40), ImageProblem.NOT_AN_IMAGE, "/p/b.jpg: no"),
        ],
    )
    store.record_weights_stat("/m/weights|1|2")
    catalog = Catalog.open(tmp_path)
    assert catalog is not None

    def answers(reads: IndexReads) -> dict[str, object]:
        """What each read of the protocol answers on this index (the writes are checked below)."""
        return {
            "model_record": reads.model_record(),
            "weights_stat": reads.weights_stat(),
            "known_root_id": reads.known_root_id(tmp_path / "photos"),
            "known_root_id elsewhere": reads.known_root_id(tmp_path / "elsewhere"),
            "known_rows": reads.known_rows(root),
            "vector_file_is_current": reads.vector_file_is_current(),
            "count_indexed": reads.count_indexed(),
            "labels_are_current": reads.labels_are_current("k"),
        }

    try:
        assert isinstance(catalog, IndexReads) and isinstance(store, IndexReads)
        # Every public method of Catalog is in the protocol: a read added to one is added to both, and here.
        public = {name for name in vars(Catalog) if not name.startswith("_") and callable(getattr(Catalog, name))}
        assert public - {"open"} == set(READS)
        assert answers(catalog) == answers(store)
        assert answers(store)["known_root_id"] == root and answers(store)["count_indexed"] == 1
        assert answers(store)["known_root_id elsewhere"] is None
        assert answers(store)["vector_file_is_current"] is False  # no FAISS file written yet
        assert answers(store)["weights_stat"] == "/m/weights|1|2"
        assert answers(store)["labels_are_current"] is False  # no label stage has run
        store.labels.record_labelled("k", store.change_counter())
        assert catalog.labels_are_current("k") and store.labels_are_current("k")
        assert not catalog.labels_are_current("another key")
        # The two writes: what one writes, the other reads.
        catalog.record_weights_stat("/m/moved|1|2")
        assert store.weights_stat() == "/m/moved|1|2"
        store.record_weights_stat("/m/back|1|2")
        assert catalog.weights_stat() == "/m/back|1|2"
        when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
        catalog.record_build_finished(when)
        assert store.summary().last_build == when
    finally:
        catalog.close()


def test_a_file_no_node_could_see_is_planned_again_by_both_readers(tmp_path: Path):
    from indexer.plan import make_plan
    from search.store.catalog import Catalog

    store = IndexStore(tmp_path, create=True)
    store.record_model(ModelRecord("demo", "f" * 64, 4))
    root = store.add_root(Path("/p"))
    unseen, broken = FoundFile("/p/unseen.jpg", 3, 30), FoundFile("/p/broken.jpg", 4, 40)
    store.write_batch(
        root,
        [
            FailedImage(unseen, ImageProblem.NOT_VISIBLE, "/p/unseen.jpg: not visible on node ab12"),
            FailedImage(broken, ImageProblem.NOT_AN_IMAGE, "/p/broken.jpg: no"),
        ],
    )
    catalog = Catalog.open(tmp_path)
    try:
        for known in (store.known_rows(root), catalog.known_rows(root)):
            plan = make_plan([unseen, broken], known)
            assert [found.path for found, _ in plan.changed] == ["/p/unseen.jpg"]  # tried again, though unchanged
            assert plan.unchanged == 1  # a file that is broken stays failed until it changes
    finally:
        catalog.close()
        store.close()


def test_a_raw_twin_is_found_when_the_index_held_no_raw_before(tmp_path: Path):
    store = IndexStore(tmp_path, create=True)
    store.record_model(ModelRecord("demo", "f" * 64, 4))
    root = store.add_root(Path("/p"))
    unit = np.array([0, 0, 1, 0], dtype=np.float32)
    store.write_batch(root, [IndexedImage(FoundFile("/p/IMG_1.JPG", 3, 30), unit, facts("a" * 32))])
    store.write_batch(root, [IndexedImage(FoundFile("/p/IMG_1.CR2", 9, 30), unit, facts("b" * 32))])
    states = {os.fsdecode(path): state for path, state in _states(tmp_path)}
    assert states == {"/p/IMG_1.JPG": "indexed", "/p/IMG_1.CR2": "twin"}
    store.close()

    # An index written before the "holds RAW" fact was recorded finds its RAW files by their names.
    with sqlite3.connect(tmp_path / DATABASE_FILE) as db:
        db.execute("DELETE FROM meta WHERE key = ?", (MetaKey.HOLDS_RAW.value,))
        db.execute("UPDATE images SET state = 'indexed'")
    store = IndexStore(tmp_path)
    store.write_batch(root, [IndexedImage(FoundFile("/p/IMG_1.JPG", 3, 31), unit, facts("a" * 32))])
    assert dict(_states(tmp_path))[b"/p/IMG_1.CR2"] == "twin"
    store.close()


def facts(content_hash: str) -> PhotoFacts:
    return PhotoFacts(10, 10, None, None, content_hash)


def _states(folder: Path) -> list[tuple[bytes, str]]:
    with sqlite3.connect(folder / DATABASE_FILE) as db:
        return db.execute("SELECT path, state FROM images").fetchall()


def test_the_quick_path_leaves_an_old_schema_to_index_store(schema_1_index: Path):
    from search.store.catalog import Catalog

    assert Catalog.open(schema_1_index) is None  # IndexStore upgrades it
    IndexStore(schema_1_index).close()
    catalog = Catalog.open(schema_1_index)
    assert catalog is not None and catalog.vector_file_is_current()  # the upgrade recorded the file's size and mtime
    catalog.close()


def test_a_backup_to_a_path_ending_in_a_slash_goes_into_that_folder(tmp_path: Path):
    from search.store.backup import backup_index

    IndexStore(tmp_path / "index", create=True).close()
    written = backup_index(tmp_path / "index", f"{tmp_path}/copies/new/")
    assert written == tmp_path / "copies" / "new" / DATABASE_FILE and written.is_file()


def test_errors_keep_their_reason_across_processes():
    import pickle

    from search.errors import ImageLoadError, ImageProblem

    store_error = pickle.loads(pickle.dumps(search.IndexStoreError("busy", StoreProblem.BUSY)))
    image_error = pickle.loads(pickle.dumps(ImageLoadError("big", ImageProblem.TOO_LARGE)))
    assert (str(store_error), store_error.reason) == ("busy", StoreProblem.BUSY)
    assert (str(image_error), image_error.reason) == ("big", ImageProblem.TOO_LARGE)


def test_opening_the_index_again_keeps_the_open_store_s_wal_from_another_process(tmp_path: Path):
    """The page keeps an IndexStore open and opens a short-lived one on every run. Opening must not
    drop this process's locks on index.sqlite: another process closing the index (a CLI search, a
    category taught from the terminal) would then delete the WAL from under the open store, and its
    next read fail with "disk I/O error" (it did, with a torn-file check that read the header itself)."""
    store = IndexStore(tmp_path, create=True)
    store.record_model(ModelRecord("demo", "f" * 64, 4))
    assert store.model_record() is not None
    IndexStore(tmp_path).close()  # as ui/loading.py's recorded_model does on every run
    other = f"from search.store import IndexStore; s = IndexStore({str(tmp_path)!r}); s.model_record(); s.close()"
    subprocess.run(
        [sys.executable, "-c", other], check=True, cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    )
    assert (tmp_path / f"{DATABASE_FILE}-wal").exists()  # still this process's
    store.record_model(ModelRecord("demo", "e" * 64, 4))
    assert store.model_record().fingerprint == "e" * 64
    store.close()
