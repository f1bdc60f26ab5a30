"""Integrity, owned by the storage layer: what a user sees when index.sqlite or the FAISS file is
damaged (garbage, cut short, swapped, a flipped bit), when a backup is made beside a running build,
and when the disk fills up. Real indexes of demo photos, real SQLite, FAISS and the CLI (its main()
here, and processes side by side where their concurrency is the point); nothing is mocked.

What SQLite does with a cut-short file: its header records the page count, so a file that lost
whole pages fails at the first read (SQLITE_CORRUPT); a file cut inside its last page is read as
if the missing bytes were zeros (an index of the images table then looks empty and the photo count
says 0), so opening checks that the file is a whole number of pages.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import search
from indexer.build import BuildOptions, build_index
from search.commands import indexer_command
from search.errors import IndexStoreError, StoreProblem
from search.store import DATABASE_FILE, IndexStore
from search.store.backup import backup_index
from search.store.vectors import load_vectors, save_vectors

from .helpers import REPO_ROOT, indexer, indexer_process, page_when_loaded

pytestmark = pytest.mark.slow

DEMO_PHOTOS = REPO_ROOT / "data" / "demo" / "photos"
APP = REPO_ROOT / "ui" / "app.py"
QUERY = "красная звезда"
PHOTOS_PER_INDEX = 6


def demo_photos(folder: Path, count: int, album: str | None = None) -> Path:
    """`count` demo photos (from one album, or from all) copied into `folder`."""
    source = sorted((DEMO_PHOTOS / album).glob("*.jpg") if album else DEMO_PHOTOS.rglob("*.jpg"))
    folder.mkdir(parents=True)
    for path in source[:count]:
        shutil.copy(path, folder / path.name)
    return folder


def build(photos: Path, index: Path) -> None:
    build_index(photos, BuildOptions(index_dir=index, model="demo", device="cpu", workers=2, progress=False))


def indexers(*commands: tuple[str | Path, ...]) -> list[subprocess.CompletedProcess]:
    """Several `python -m indexer` commands, each in its own process, side by side."""
    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda argv: indexer_process(*argv), commands))


def run_cli(capsys, *argv: str | Path) -> subprocess.CompletedProcess:
    """`python -m indexer ARGV` run in this process: the same code, without a process's start-up."""
    return indexer(*argv)


def page(monkeypatch, index: Path) -> AppTest:
    monkeypatch.setattr(sys, "argv", [str(APP), "--index", str(index), "--device", "cpu"])
    return page_when_loaded(AppTest.from_file(str(APP), default_timeout=120).run())


def answer(index: search.PhotoIndex) -> list[tuple[int, str, float]]:
    return [(hit.id, hit.path, hit.score) for hit in index.search(QUERY, k=PHOTOS_PER_INDEX)]


def vector_file(index: Path) -> Path:
    (found,) = index.glob("vectors-*.faiss")
    return found


def assert_same_answer(got: list[tuple[int, str, float]], expected: list[tuple[int, str, float]]) -> None:
    assert [(i, p) for i, p, _ in got] == [(i, p) for i, p, _ in expected]
    assert np.allclose([s for _, _, s in got], [s for _, _, s in expected], atol=1e-6)


@contextmanager
def capture_logs(level: int) -> Iterator[list[logging.LogRecord]]:
    """Every record logged at `level` or above meanwhile, whatever handlers the CLI sets up or takes off."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler, root = Keep(level), logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(min(level, old_level or level))
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


@dataclass(frozen=True)
class Built:
    """Two indexes of disjoint demo photos, and index A's answer to QUERY before any damage."""

    photos_a: Path
    index_a: Path
    photos_b: Path
    index_b: Path
    reference: search.PhotoIndex  # open on a copy of index A that no test touches
    before: list[tuple[int, str, float]]  # (id, path, score), best first


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    root = tmp_path_factory.mktemp("integrity")
    photos_a = demo_photos(root / "photos-a", PHOTOS_PER_INDEX, "2025 весна")
    photos_b = demo_photos(root / "photos-b", PHOTOS_PER_INDEX, "2024 зима")
    build(photos_a, root / "index-a")
    build(photos_b, root / "index-b")
    shutil.copytree(root / "index-a", root / "reference")  # the tests copy index-a, which nothing holds open
    reference = search.open_index(root / "reference", device="cpu")
    return Built(photos_a, root / "index-a", photos_b, root / "index-b", reference, answer(reference))


@pytest.fixture
def index_a(built: Built, tmp_path: Path) -> Path:
    """A copy of index A to damage. Every connection of its build is closed, so SQLite has moved the
    WAL into index.sqlite and removed it: damage to index.sqlite hits the whole database."""
    copy = tmp_path / "index"
    shutil.copytree(built.index_a, copy)
    assert not (copy / f"{DATABASE_FILE}-wal").exists()
    return copy


# --- index.sqlite damaged ---------------------------------------------------------------------------


def overwrite_with_garbage(database: Path) -> None:
    database.write_bytes(random.Random(0).randbytes(4096))


def cut_to_half(database: Path) -> None:
    os.truncate(database, database.stat().st_size // 2)


def cut_to_100_bytes(database: Path) -> None:
    os.truncate(database, 100)


def cut_at_a_page_boundary(database: Path) -> None:
    os.truncate(database, database.stat().st_size // 4096 // 2 * 4096)


def cut_inside_the_last_page(database: Path) -> None:
    os.truncate(database, database.stat().st_size - 1000)


def assert_names_the_file_and_the_way_back(message: str, database: Path) -> None:
    """The CLI and the API say it in English, the page in Russian: the same file and the same ways."""
    # The command as the one who reads it can run it: the CLI names itself, the API and the page the
    # console script or this interpreter (search.commands).
    command = indexer_command() if indexer_command() in message else "python -m indexer"
    if "повреждён" in message:
        assert f"Файл индекса `{database}` повреждён" in message, message
        assert f"`{command} build /путь/к/фото --index {database.parent}`" in message, message
    else:
        assert f"{database} is damaged" in message, message
        assert f"{command} build PHOTOS --index {database.parent}" in message, message  # or build again
    assert f"`{command} backup`" in message, message  # restore a copy...


def commands_on(index: Path, photos: Path) -> list[tuple[str | Path, ...]]:
    return [
        ("verify", "--index", index),
        ("stats", "--index", index),
        ("search", QUERY, "--index", index, "--device", "cpu"),
        ("build", photos, "--index", index, "--model", "demo", "--device", "cpu", "--quiet"),
    ]


def assert_refused_with_the_way_back(results: list[subprocess.CompletedProcess], database: Path) -> None:
    for result in results:
        assert "Traceback" not in result.stderr, (result.args, result.stderr)
        assert result.returncode == 2, (result.args, result.stdout, result.stderr)
        assert result.stderr.startswith("error: "), (result.args, result.stderr)
        assert_names_the_file_and_the_way_back(result.stderr, database)


def assert_the_api_and_the_page_say_so(index: Path, database: Path, monkeypatch) -> None:
    with pytest.raises(IndexStoreError) as raised:
        search.open_index(index, device="cpu")
    assert raised.value.reason is StoreProblem.DAMAGED
    assert_names_the_file_and_the_way_back(str(raised.value), database)
    at = page(monkeypatch, index)
    assert not at.exception, [e.value for e in at.exception]
    assert_names_the_file_and_the_way_back(at.error[0].value, database)


def test_garbage_in_the_database_is_named_with_the_way_back(built: Built, index_a: Path, tmp_path: Path, monkeypatch):
    database = index_a / DATABASE_FILE
    backup = backup_index(index_a, tmp_path / "backup.sqlite")
    overwrite_with_garbage(database)

    assert_the_api_and_the_page_say_so(index_a, database, monkeypatch)
    assert_refused_with_the_way_back(indexers(*commands_on(index_a, built.photos_a)), database)

    # The way back works: without the WAL of the damaged file, the copy answers as the index did.
    for leftover in (f"{DATABASE_FILE}-wal", f"{DATABASE_FILE}-shm"):
        (index_a / leftover).unlink(missing_ok=True)
    shutil.copy(backup, database)
    assert_same_answer(answer(search.open_index(index_a, device="cpu")), built.before)


@pytest.mark.parametrize("cut", [cut_to_half, cut_to_100_bytes, cut_at_a_page_boundary, cut_inside_the_last_page])
def test_a_database_cut_short_is_named_with_the_way_back(
    cut: Callable[[Path], None], built: Built, index_a: Path, monkeypatch, capsys
):
    database = index_a / DATABASE_FILE
    cut(database)
    assert_the_api_and_the_page_say_so(index_a, database, monkeypatch)
    # The commands in this process: the same code as the garbage test's processes, without their start-up.
    assert_refused_with_the_way_back(
        [run_cli(capsys, *argv) for argv in commands_on(index_a, built.photos_a)], database
    )


def test_a_damaged_page_inside_the_database_is_reported_where_it_is_read(
    built: Built, index_a: Path, monkeypatch, capsys
):
    """Opening reads only the metadata; a damaged page of the images table shows when a search,
    the summary or verify reads it: as the same message, never as a traceback or a wrong answer."""
    database = index_a / DATABASE_FILE
    with closing(sqlite3.connect(database)) as db:
        (images_root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'images'").fetchone()
    with open(database, "r+b") as handle:
        handle.seek((images_root - 1) * 4096)
        handle.write(random.Random(1).randbytes(4096))

    opened = search.open_index(index_a, device="cpu")
    with pytest.raises(IndexStoreError) as raised:
        opened.search(QUERY)
    assert raised.value.reason is StoreProblem.DAMAGED
    assert_names_the_file_and_the_way_back(str(raised.value), database)

    at = page(monkeypatch, index_a)  # the page opens the index, then reads the summary
    assert not at.exception, [e.value for e in at.exception]
    assert_names_the_file_and_the_way_back(at.error[0].value, database)
    assert_refused_with_the_way_back(
        [run_cli(capsys, *argv) for argv in commands_on(index_a, built.photos_a)], database
    )


def test_verify_reports_what_sqlites_integrity_check_finds(index_a: Path, capsys):
    """Damage no read stumbles on: two indexes of the images table swapped. Only SQLite's integrity
    check notices it; verify names the file, the findings and the way back."""
    database = index_a / DATABASE_FILE
    with closing(sqlite3.connect(database)) as db:
        roots = dict(db.execute("SELECT name, rootpage FROM sqlite_master WHERE name LIKE 'ix_images_%'"))
        db.execute("PRAGMA writable_schema = ON")
        swap = {"ix_images_seq": roots["ix_images_taken_at"], "ix_images_taken_at": roots["ix_images_seq"]}
        for name, rootpage in swap.items():
            db.execute("UPDATE sqlite_master SET rootpage = ? WHERE name = ?", (rootpage, name))
        db.commit()
    for argv in (("verify", "--index", index_a), ("verify", "--repair", "--index", index_a)):
        result = run_cli(capsys, *argv)
        assert_refused_with_the_way_back([result], database)
        assert "(integrity check: " in result.stderr and "ix_images_seq" in result.stderr, result.stderr


# --- the FAISS file damaged -------------------------------------------------------------------------


def swap_in_index_b_file(faiss_file: Path, built: Built) -> str:
    """Another index's file of the same dimension and count (so of the same size) under this name."""
    other = vector_file(built.index_b)
    assert other.stat().st_size == faiss_file.stat().st_size
    shutil.copy(other, faiss_file)
    return "its checksum differs from the one recorded when it was written"


def cut_to_half_its_size(faiss_file: Path, built: Built) -> str:
    os.truncate(faiss_file, faiss_file.stat().st_size // 2)
    return f"it is {faiss_file.stat().st_size} bytes"


def flip_a_bit_in_the_vectors(faiss_file: Path, built: Built) -> str:
    """The top exponent bit of the float in the middle of the vector data: ~0.05 becomes ~1e37."""
    data = bytearray(faiss_file.read_bytes())
    with closing(sqlite3.connect(faiss_file.parent / DATABASE_FILE)) as db:
        (first,) = db.execute("SELECT vector FROM images ORDER BY id LIMIT 1").fetchone()
    start = data.find(first)  # a flat index keeps the vectors side by side, in the order of their ids
    assert start > 0
    middle = start + PHOTOS_PER_INDEX * len(first) // 2 // 4 * 4
    data[middle + 3] ^= 0x40  # little-endian float32: byte 3 holds the sign and the exponent's top bits
    faiss_file.write_bytes(data)
    return "its checksum differs from the one recorded when it was written"


def answer_of_the_file_itself(faiss_file: Path, query: np.ndarray) -> list[tuple[int, float]] | None:
    """What the damaged file would answer if it were trusted (None: faiss cannot read it)."""
    try:
        index = faiss.read_index(str(faiss_file))
    except RuntimeError:
        return None
    scores, ids = index.search(query[None, :], PHOTOS_PER_INDEX)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True)]


@pytest.mark.parametrize("damage", [swap_in_index_b_file, cut_to_half_its_size, flip_a_bit_in_the_vectors])
def test_a_damaged_vector_file_is_not_trusted_reported_and_repaired(
    damage: Callable[[Path, Built], str], built: Built, index_a: Path, caplog, capsys
):
    faiss_file = vector_file(index_a)
    why = damage(faiss_file, built)
    trusted = answer_of_the_file_itself(faiss_file, built.reference.query_vector(QUERY))
    before = [(row_id, score) for row_id, _, score in built.before]
    # The damage matters: trusting the file would give another answer (or none at all).
    assert trusted is None or [i for i, _ in trusted] != [i for i, _ in before] or not np.allclose(trusted, before)

    with caplog.at_level(logging.WARNING, logger="search.store.vectors"):
        hits = answer(search.open_index(index_a, device="cpu"))
    assert f"{faiss_file.name} cannot be used ({why}" in caplog.text
    assert_same_answer(hits, built.before)  # A's photos, A's best first, A's scores
    assert all(Path(path).parent == built.photos_a for _, path, _ in hits)

    verified = run_cli(capsys, "verify", "--index", index_a)
    assert verified.returncode == 1
    assert f"the vector file {faiss_file.name} cannot be trusted ({why}" in verified.stdout

    repaired = run_cli(capsys, "verify", "--repair", "--index", index_a)
    assert repaired.returncode == 0 and "repaired: wrote" in repaired.stdout, repaired.stdout
    verified = run_cli(capsys, "verify", "--index", index_a)
    assert verified.returncode == 0, verified.stdout
    assert f"ok: {PHOTOS_PER_INDEX} indexed rows, {PHOTOS_PER_INDEX} vectors" in verified.stdout

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="search.store.vectors"):
        assert_same_answer(answer(search.open_index(index_a, device="cpu")), built.before)
    assert "cannot be used" not in caplog.text  # the written file is trusted again


@pytest.mark.parametrize("new_photo", [True, False], ids=["a-photo-added", "nothing-changed"])
def test_a_build_writes_an_untrusted_vector_file_again(new_photo: bool, built: Built, tmp_path: Path, capsys):
    photos = demo_photos(tmp_path / "photos", PHOTOS_PER_INDEX, "2025 весна")
    index = tmp_path / "index"
    build(photos, index)
    swap_in_index_b_file(vector_file(index), built)
    if new_photo:
        shutil.copy(sorted((DEMO_PHOTOS / "2023 лето").glob("*.jpg"))[0], photos / "new.jpg")

    # Nothing changed: the quick path sees the file's size or mtime differ from its record, and the
    # full path checks it, rebuilds it from SQLite and writes it again.
    built_again = run_cli(capsys, "build", photos, "--index", index, "--model", "demo", "--device", "cpu", "--quiet")
    assert built_again.returncode == 0, built_again.stderr
    verified = run_cli(capsys, "verify", "--index", index)
    assert verified.returncode == 0, verified.stdout


# --- backups ----------------------------------------------------------------------------------------


def test_a_backup_made_while_a_build_writes_opens_as_an_index_by_itself(tmp_path: Path, capsys):
    photos = demo_photos(tmp_path / "photos", 20)
    index = tmp_path / "index"
    writer = subprocess.Popen(
        [sys.executable, "-m", "indexer", "build", str(photos), "--index", str(index), "--model", "demo"]
        + ["--device", "cpu", "--quiet", "--batch-size", "2", "--checkpoint-every", "4"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    copies: list[Path] = []
    try:
        deadline = time.monotonic() + 120
        while not list(index.glob("vectors-*.faiss")):  # the first checkpoint: rows and the model are committed
            assert writer.poll() is None and time.monotonic() < deadline, "no checkpoint before the build ended"
            time.sleep(0.05)
        from_the_command_line = tmp_path / "backup-cli.sqlite"
        backup_command = subprocess.Popen(
            [sys.executable, "-m", "indexer", "backup", str(from_the_command_line), "--index", str(index)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Copies in this process take milliseconds: these are surely made between the build's commits.
        while writer.poll() is None and len(copies) < 3:
            copy = backup_index(index, tmp_path / f"backup-{len(copies)}.sqlite")
            if writer.poll() is None:  # the build wrote before, during and after this copy
                copies.append(copy)
            time.sleep(0.3)
        _, backup_stderr = backup_command.communicate(timeout=120)
    finally:
        _, stderr = writer.communicate(timeout=300)
    assert writer.returncode == 0, stderr
    assert backup_command.returncode == 0 and "Traceback" not in backup_stderr, backup_stderr
    assert copies, "the build finished before a backup could be made beside it"

    counts = []
    for number, copy in enumerate([*copies, from_the_command_line]):
        restored = tmp_path / f"restored-{number}"
        restored.mkdir()
        shutil.copy(copy, restored / DATABASE_FILE)
        with closing(sqlite3.connect(restored / DATABASE_FILE)) as db:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one self-contained file
        opened = search.open_index(restored, device="cpu")
        counts.append(len(opened))
        hits = opened.search(QUERY, k=3)
        assert hits and all(Path(hit.path).parent == photos for hit in hits)
        repaired = run_cli(capsys, "verify", "--repair", "--index", restored)  # the FAISS file stayed behind
        assert repaired.returncode == 0 and f"ok: {len(opened)} indexed rows" in repaired.stdout, repaired.stdout
    assert 0 < counts[0] < 20, counts  # a copy of the index as it was mid-build, not only of the end

    # A backup over the index's own files is refused before anything is written.
    database = index / DATABASE_FILE
    unchanged = database.read_bytes()
    refused = indexer("backup", database, "--index", index)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert f"error: {database} is the index's own index.sqlite; a backup must go elsewhere" in refused.stderr
    for own in (index, index / f"{DATABASE_FILE}-wal"):
        with pytest.raises(IndexStoreError, match="a backup must go elsewhere") as raised:
            backup_index(index, own)
        assert raised.value.reason is StoreProblem.BACKUP_FAILED
    assert database.read_bytes() == unchanged and not (index / f"{DATABASE_FILE}-wal").exists()


def cli_json_hits(index: Path) -> list[tuple[str, float]]:
    """(path, score) of `indexer search QUERY --json`, best first; the command must succeed without a word on stderr."""
    result = indexer("search", QUERY, "--index", index, "--device", "cpu", "-k", PHOTOS_PER_INDEX, "--json")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return [(hit["path"], hit["score"]) for hit in map(json.loads, result.stdout.splitlines())]


def test_backup_restore_verify_search_is_quiet_and_answers_as_before(built: Built, index_a: Path, tmp_path: Path):
    """The documented way back, as a user runs it: each step exits 0, nothing warns (stderr, logging,
    the warnings module), and the restored index answers as the original did."""
    before_cli = cli_json_hits(index_a)
    backup = tmp_path / "backups" / "index-backup.sqlite"
    restored = tmp_path / "restored"
    by_hand = tmp_path / "by-hand"
    with warnings.catch_warnings(record=True) as warned, capture_logs(logging.WARNING) as logged:
        warnings.simplefilter("always")
        made = indexer("backup", backup, "--index", index_a)
        assert made.returncode == 0 and made.stderr == "", made.stderr

        put_back = indexer("backup", "--restore", backup, "--index", restored)
        assert put_back.returncode == 0 and put_back.stderr == "", put_back.stderr
        assert (
            f"restored {restored / DATABASE_FILE} from {backup}: {PHOTOS_PER_INDEX} indexed photos" in put_back.stdout
        )
        assert len(list(restored.glob("vectors-*.faiss"))) == 1  # the cache is made at once
        verified = indexer("verify", "--index", restored)
        assert verified.returncode == 0 and verified.stderr == "", verified.stderr
        assert (
            verified.stdout
            == f"ok: {PHOTOS_PER_INDEX} indexed rows, {PHOTOS_PER_INDEX} vectors, one per row, equal to SQLite's\n"
        )
        assert cli_json_hits(restored) == before_cli
        assert_same_answer(answer(search.open_index(restored, device="cpu")), built.before)

        # The older way, the copy put in an empty folder by hand (or the cache deleted): a note, not an alarm.
        by_hand.mkdir()
        shutil.copy(backup, by_hand / DATABASE_FILE)
        verified = indexer("verify", "--index", by_hand)
        assert verified.returncode == 0 and verified.stderr == "", verified.stderr
        assert "is not there (a restored backup or a deleted cache)" in verified.stdout
        assert not list(by_hand.glob("vectors-*.faiss"))  # verify without --repair writes nothing
        assert_same_answer(answer(search.open_index(by_hand, device="cpu")), built.before)
    assert [str(w.message) for w in warned] == [] and logged == []

    # The first reader wrote the cache: the next one reads it, and verify has nothing to say.
    (written,) = by_hand.glob("vectors-*.faiss")
    with capture_logs(logging.INFO) as logged:
        assert_same_answer(answer(search.open_index(by_hand, device="cpu")), built.before)
    assert not [record for record in logged if "made from SQLite" in record.getMessage()]
    assert list(by_hand.glob("vectors-*.faiss")) == [written]
    assert indexer("verify", "--index", by_hand).stdout.startswith("ok: ")


def test_a_build_makes_a_deleted_vector_cache_again_without_a_warning(built: Built, index_a: Path):
    vector_file(index_a).unlink()  # a deleted cache (or a restore by hand): SQLite holds every vector
    rebuilt = indexer("build", built.photos_a, "--index", index_a, "--model", "demo", "--device", "cpu", "--quiet")
    assert rebuilt.returncode == 0 and "WARNING" not in rebuilt.stderr, rebuilt.stderr
    vector_file(index_a)  # written again, once
    verified = indexer("verify", "--index", index_a)
    assert verified.returncode == 0 and verified.stdout.startswith("ok: "), verified.stdout
    assert_same_answer(answer(search.open_index(index_a, device="cpu")), built.before)


def test_a_restore_over_an_index_needs_force_and_a_bad_source_changes_nothing(
    built: Built, index_a: Path, tmp_path: Path
):
    backup = tmp_path / "index-b.sqlite"
    assert indexer("backup", backup, "--index", built.index_b).returncode == 0
    database = index_a / DATABASE_FILE
    unchanged = database.read_bytes()

    refused = indexer("backup", "--restore", backup, "--index", index_a)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert f"error: {database} already holds an index" in refused.stderr and "--force" in refused.stderr
    not_an_index = tmp_path / "notes.txt"
    not_an_index.write_text("not a database")
    bad = indexer("backup", "--restore", not_an_index, "--index", index_a, "--force")
    assert bad.returncode == 2 and f"error: {not_an_index} is not a backup of an index" in bad.stderr, bad.stderr
    from_the_future = tmp_path / "newer.sqlite"
    shutil.copy(backup, from_the_future)
    with closing(sqlite3.connect(from_the_future)) as db, db:
        db.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    newer = indexer("backup", "--restore", from_the_future, "--index", index_a, "--force")
    assert newer.returncode == 2 and "written by a newer version of this program" in newer.stderr, newer.stderr
    assert database.read_bytes() == unchanged and not list(index_a.glob(".restoring-*"))
    assert_same_answer(answer(search.open_index(index_a, device="cpu")), built.before)  # still index A

    replaced = indexer("backup", "--restore", backup, "--index", index_a, "--force")
    assert replaced.returncode == 0 and replaced.stderr == "", replaced.stderr
    assert indexer("verify", "--index", index_a).returncode == 0
    hits = search.open_index(index_a, device="cpu").search(QUERY, k=PHOTOS_PER_INDEX)
    assert hits and all(Path(hit.path).parent == built.photos_b for hit in hits)  # now index B's photos


# --- a full disk ------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A file system of 1 MiB of its own (tmpfs) to fill up; it needs root and mount(8)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full disk is simulated by mounting a small tmpfs, which needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def free_bytes(disk: Path) -> int:
    stats = os.statvfs(disk)
    return stats.f_bavail * stats.f_frsize


def fill(disk: Path, leave: int = 0) -> Path:
    """Write a file on `disk` until only `leave` bytes are free."""
    filler = disk / "filler"
    with open(filler, "ab", buffering=0) as handle:
        try:
            while (room := free_bytes(disk) - leave) > 0:
                handle.write(b"\0" * min(room, 1 << 16))
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return filler


def test_a_full_disk_is_named_and_the_same_command_continues(small_disk: Path, tmp_path: Path, capsys):
    photos = demo_photos(tmp_path / "photos", 12)
    index = small_disk / "index"
    command = ("build", photos, "--index", index, "--model", "demo", "--device", "cpu", "--quiet")
    command += ("--batch-size", "2", "--checkpoint-every", "4")
    filler = fill(small_disk, leave=512 << 10)  # room for schema 7's tables and the first batches' WAL, not for all
    full = indexer(*command)
    assert full.returncode == 2 and "Traceback" not in full.stderr, full.stderr
    assert f"error: The disk holding {index}" in full.stderr and "is full" in full.stderr, full.stderr
    assert "run the same command again to continue" in full.stderr

    filler.unlink()
    resumed = indexer(*command)
    assert resumed.returncode == 0, resumed.stderr
    assert "unchanged 0," not in resumed.stdout, resumed.stdout  # what was committed before the disk filled stayed
    verified = run_cli(capsys, "verify", "--index", index)
    assert verified.returncode == 0 and "ok: 12 indexed rows, 12 vectors" in verified.stdout, verified.stdout

    # No room at all: even reading needs a little (SQLite's WAL index, index.sqlite-shm, made on open).
    fill(small_disk)
    with pytest.raises(IndexStoreError) as raised:
        search.open_index(index, device="cpu")
    assert raised.value.reason is StoreProblem.DISK_FULL and f"The disk holding {index}" in str(raised.value)
    stats = indexer("stats", "--index", index)
    assert stats.returncode == 2 and "Traceback" not in stats.stderr and "is full" in stats.stderr, stats.stderr
    filler.unlink()

    # The FAISS file cannot be written: the recorded one and SQLite stay as they were, no temp file is left.
    store = IndexStore(index)
    try:
        vectors = load_vectors(index, store, store.model_record().embed_dim)
        recorded, written = store.vector_file_record(), vector_file(index).read_bytes()
        fill(small_disk)
        with pytest.raises(IndexStoreError) as raised:
            save_vectors(index, store, vectors)
        assert raised.value.reason is StoreProblem.DISK_FULL and "is full" in str(raised.value)
        assert store.vector_file_record() == recorded and vector_file(index).read_bytes() == written
        assert not list(index.glob(".vectors-*.tmp"))
        with pytest.raises(IndexStoreError) as raised:
            backup_index(index, small_disk / "backup.sqlite")
        assert raised.value.reason is StoreProblem.BACKUP_FAILED and "backup.sqlite" in str(raised.value)
        assert not list(small_disk.glob("backup.sqlite*"))
    finally:
        store.close()
