"""`python -m indexer watch`: a photo added, renamed, edited or deleted is searchable (or gone) within
seconds; a vanished folder deletes nothing; a burst of files is one round; SIGTERM exits 0 with the
index whole. The watcher runs as a real process on a real folder (inotify), with the demo model.

Also the thumbnail cache (search/store/thumbnails.py): thumbnails of photos gone from the index are
pruned by the build, those of photos still there are kept.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from indexer.build import BuildOptions, build_index
from indexer.watch import SaidOnce
from search.settings import MODEL_VAR
from search.store import IndexStore
from search.store.thumbnails import THUMBNAIL_DIR, live_photos, prune_thumbnails, thumbnail_path

from .helpers import REPO_ROOT, fresh_picture_jpeg, indexer, text_picture

CHANGE_BOUND_S = 20.0  # a change must be in the index this soon (settle 0.5 s; a round takes ~1-2 s)
START_BOUND_S = 120.0  # the first round loads the model and starts the decoders on a busy machine
ROUND_LINE = re.compile(r"^\d\d:\d\d:\d\d (.*); (\d+) searchable \(")


class WatchProcess:
    """`python -m indexer watch` in a process of its own; its output lines collected as they come."""

    def __init__(self, photos: Path, index: Path, *extra: str, model: str | None = "demo", env: dict | None = None):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "indexer", "watch", str(photos), "--index", str(index)]
            + (["--model", model] if model else [])
            + ["--device", "cpu", "--workers", "1", "--settle", "0.5", "--rescan-every", "5", "--quiet", *extra],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, needle: str, timeout: float) -> None:
        wait_until(lambda: any(needle in line for line in self.lines), timeout, f"{needle!r} in:\n{self.output}")

    def round_lines(self) -> list[str]:
        return [line for line in self.lines if ROUND_LINE.match(line)]

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60) -> int:
        self.process.send_signal(signum)
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@contextmanager
def watching(photos: Path, index: Path, *extra: str, **options) -> Iterator[WatchProcess]:
    watcher = WatchProcess(photos, index, *extra, **options)
    try:
        watcher.wait_for_line("watching ", START_BOUND_S)
        yield watcher
    finally:
        watcher.kill()  # a failed assertion must not leave it running


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `condition` until it holds; returns how long it took, fails naming `what` after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(0.2)
    return time.monotonic() - started


def row_of(index: Path, path: Path) -> tuple[int, bytes] | None:
    """(row id, vector bytes) the index holds for the file at `path`, or None."""
    store = IndexStore(index)
    try:
        row_id = store.id_of(path)
        vector = None if row_id is None else store.vector_of(row_id)
    finally:
        store.close()
    return None if row_id is None or vector is None else (row_id, vector.tobytes())


def indexed_paths(index: Path, photos: Path) -> set[str]:
    """Every file the index holds under `photos` (searchable or not)."""
    store = IndexStore(index)
    try:
        return {os.fsdecode(path) for path in store.known_rows(store.known_root_id(photos))}
    finally:
        store.close()


def write_photo(path: Path, colour: str, shape: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(fresh_picture_jpeg(colour, shape))


@pytest.fixture
def collection(tmp_path: Path) -> tuple[Path, Path]:
    photos, index = tmp_path / "photos", tmp_path / "index"
    write_photo(photos / "красная звезда.jpg", "красный", "звезда")
    write_photo(photos / "альбом" / "синий квадрат.jpg", "синий", "квадрат")
    write_photo(photos / "альбом" / "зелёный треугольник.jpg", "зелёный", "треугольник")
    return photos, index


@pytest.mark.slow
def test_watch_follows_additions_renames_edits_deletions_and_an_unplugged_folder(collection):
    from search import open_index
    from search.store.verify import verify_index

    photos, index = collection
    # Rescans every 2 s (the others every 5 s): the unplugged folder below outlasts a rescan sooner.
    with watching(photos, index, "--rescan-every", "2") as watcher:
        assert "new 3" in watcher.output  # the first round is an ordinary build, with its summary
        model = open_index(index, device="cpu").model

        def top(query: str) -> str:
            """The best hit's path. The index is opened afresh for each query: a PhotoIndex kept open
            beside a writing process can keep reading an old snapshot (a bug of the search side,
            reproduced without watch; reported, not fixed here)."""
            return open_index(index, model=model).search(query, k=1)[0].path

        added = photos / "новое" / "жёлтый круг.jpg"
        write_photo(added, "жёлтый", "круг")
        wait_until(lambda: row_of(index, added) is not None, CHANGE_BOUND_S, f"{added.name} indexed")
        assert top("жёлтый круг") == str(added)  # searchable, not only stored
        added_id, added_vector = row_of(index, added)

        moved = photos / "альбом" / "круг переехал.jpg"
        added.rename(moved)
        wait_until(lambda: row_of(index, moved) is not None, CHANGE_BOUND_S, "the renamed photo under its new path")
        assert row_of(index, moved) == (added_id, added_vector)  # the same row and vector: followed, not re-made
        assert row_of(index, added) is None and top("жёлтый круг") == str(moved)

        edited = photos / "альбом" / "зелёный треугольник.jpg"
        edited_id, old_vector = row_of(index, edited)
        write_photo(edited, "белый", "звезда")  # new content under the same name
        wait_until(lambda: row_of(index, edited)[1] != old_vector, CHANGE_BOUND_S, "the edited photo re-encoded")
        assert row_of(index, edited)[0] == edited_id and top("белая звезда") == str(edited)

        deleted = photos / "альбом" / "синий квадрат.jpg"
        deleted.unlink()
        wait_until(lambda: row_of(index, deleted) is None, CHANGE_BOUND_S, "the deleted photo gone")
        assert str(deleted) not in {hit.path for hit in open_index(index, model=model).search("синий квадрат", k=10)}

        # The folder vanishes (an unplugged disk looks like this): nothing is removed, watch waits.
        before = indexed_paths(index, photos)
        assert len(before) == 3
        away = photos.with_name("photos-unplugged")
        photos.rename(away)
        watcher.wait_for_line("is not reachable; waiting for it to come back; nothing removed", CHANGE_BOUND_S)
        time.sleep(3.5)  # longer than --rescan-every: a rescan must not take the absence for deletions
        assert watcher.process.poll() is None and indexed_paths(index, photos) == before
        away.rename(photos)
        watcher.wait_for_line("is back", CHANGE_BOUND_S)
        time.sleep(2)
        assert indexed_paths(index, photos) == before

        # Added right after it is back: the watcher armed itself on the folder again.
        late = photos / "чёрный квадрат.jpg"
        write_photo(late, "чёрный", "квадрат")
        wait_until(lambda: row_of(index, late) is not None, CHANGE_BOUND_S, "a photo added after the folder came back")

        # A receipt photographed into the folder is found by a word on it, in another form, within seconds.
        receipt = photos / "чек из магазина.jpg"
        receipt.write_bytes(text_picture(["КАССОВЫЙ ЧЕК", "Пятёрочка", "МОЛОКО 89.90"], (400, 1000), ".jpg"))

        def found_by_its_word() -> bool:
            hits = open_index(index, model=model).search('"молока"', k=1)
            return bool(hits) and hits[0].path == str(receipt)

        wait_until(found_by_its_word, CHANGE_BOUND_S, "the receipt found by «молока»")

        assert watcher.stop(signal.SIGTERM) == 0
    assert re.search(r"stopped watching; index up to date as of \d\d:\d\d:\d\d$", watcher.output), watcher.output
    assert "Traceback" not in watcher.output
    report = verify_index(index)
    assert report.ok, report.problems
    assert indexed_paths(index, photos) == before | {str(late), str(receipt)}


@pytest.mark.slow
def test_a_burst_of_thirty_photos_is_one_round_or_a_few_not_thirty(collection):
    photos, index = collection
    rng = np.random.default_rng(5)
    with watching(photos, index) as watcher:
        burst = photos / "импорт с камеры"
        burst.mkdir()
        for number in range(30):  # distinct pictures: none is a copy of another
            pixels = rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(burst / f"IMG_{number:04d}.jpg", quality=90)
        wait_until(lambda: len(indexed_paths(index, photos)) == 33, 60, "the 30 new photos indexed")
        time.sleep(1.5)  # a round that would still follow
        rounds = watcher.round_lines()
        news = [int(m.group(1)) for line in rounds if (m := re.search(r"\+(\d+) new", line))]
        assert sum(news) == 30 and 1 <= len(rounds) <= 3, watcher.output
        assert watcher.stop(signal.SIGINT) == 0  # Ctrl-C stops as cleanly as SIGTERM


@pytest.mark.slow
def test_the_model_warning_is_said_once_per_watch_session_not_every_round(collection):
    # An index of the demo model watched without --model while the configured model is the default:
    # every round's build keeps the index's model and would warn that it did.
    photos, index = collection
    built = indexer("build", photos, "--index", index, "--model", "demo", "--device", "cpu", "--quiet")
    assert built.returncode == 0, built.stderr
    env = {name: value for name, value in os.environ.items() if name not in (MODEL_VAR, "RUCLIP_MODEL")}
    with watching(photos, index, model=None, env=env) as watcher:
        for number, (colour, shape) in enumerate([("жёлтый", "круг"), ("синий", "звезда"), ("красный", "круг")]):
            write_photo(photos / f"новое {number}.jpg", colour, shape)
            wait_until(lambda n=number: len(watcher.round_lines()) > n, CHANGE_BOUND_S, f"round {number + 1}")
        assert watcher.stop() == 0
    warnings = [line for line in watcher.lines if "using model demo" in line]
    assert len(warnings) == 1 and "an index holds one model's vectors" in warnings[0], watcher.output


def test_said_once_lets_a_warning_through_again_only_when_it_changed():
    said_once = SaidOnce()
    messages = ["using model demo", "using model demo", "using model other", "using model demo", "using model demo"]
    records = [logging.LogRecord("indexer.model_choice", logging.WARNING, __file__, 1, m, None, None) for m in messages]
    assert [said_once.filter(record) for record in records] == [True, False, True, True, False]


@pytest.mark.slow
def test_watch_refuses_a_missing_folder_at_start_in_one_line(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "indexer", "watch", str(tmp_path / "nowhere"), "--index", str(tmp_path / "index")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.startswith("error: Photo folder") and "does not exist" in run.stderr


# --- thumbnails of photos gone from the index -------------------------------------------------


def _touch(path: Path, data: bytes = b"jpeg", age_s: float = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if age_s:
        when = time.time() - age_s
        os.utime(path, (when, when))
    return path


def test_pruning_keeps_live_thumbnails_and_removes_gone_edited_and_abandoned_ones(tmp_path):
    index = tmp_path / "index"
    live = {7: (1000, 123), 300: (2000, 456)}
    kept = [thumbnail_path(index, 7, 1000, 123, 384), thumbnail_path(index, 7, 1000, 123, 1600)]
    kept.append(thumbnail_path(index, 300, 2000, 456, 384))
    gone = thumbnail_path(index, 8, 1000, 123, 384)  # no such photo any more
    edited = thumbnail_path(index, 300, 2000, 455, 384)  # photo 300 as it was before an edit
    for path in (*kept, gone, edited):
        _touch(path)
    foreign = _touch(index / THUMBNAIL_DIR / "07" / "notes.txt")  # not a name the cache makes: left alone
    fresh_part = _touch(thumbnail_path(index, 8, 1, 1, 384).with_name("tmpabc.part"))
    stale_part = _touch(thumbnail_path(index, 8, 1, 1, 384).with_name("tmpold.part"), age_s=7200)

    assert prune_thumbnails(index, live) == 3
    assert all(path.exists() for path in (*kept, foreign, fresh_part))
    assert not any(path.exists() for path in (gone, edited, stale_part))
    assert gone.parent == index / THUMBNAIL_DIR / "08" and kept[2].parent == index / THUMBNAIL_DIR / "2c"


def test_pruning_removes_nothing_when_the_index_cannot_be_read(tmp_path):
    index = tmp_path / "index"
    thumbnail = _touch(thumbnail_path(index, 1, 10, 10, 384))
    assert live_photos(index) is None and prune_thumbnails(index) == 0 and thumbnail.exists()
    (index / "index.sqlite").write_bytes(b"not a database")
    assert live_photos(index) is None and prune_thumbnails(index) == 0 and thumbnail.exists()


@pytest.mark.slow
def test_a_build_prunes_the_thumbnails_of_deleted_photos_and_keeps_the_others(tmp_path, collection):
    from ui.thumbnails import thumbnail

    photos, index = collection
    options = BuildOptions(index_dir=index, model="demo", device="cpu", workers=1, progress=False)
    build_index(photos, options)
    store = IndexStore(index)
    ids = {path: store.id_of(path) for path in sorted(photos.rglob("*.jpg"))}
    store.close()
    for path, row_id in ids.items():
        thumbnail(index, row_id, str(path), [str(photos)])  # as the page makes them
    made = {path: list((index / THUMBNAIL_DIR).rglob(f"{row_id}-*.jpg")) for path, row_id in ids.items()}
    assert all(len(files) == 1 for files in made.values())

    deleted = photos / "альбом" / "синий квадрат.jpg"
    deleted.unlink()
    summary = build_index(photos, options)
    assert summary.deleted == 1
    assert not made[deleted][0].exists()
    assert all(files[0].exists() for path, files in made.items() if path != deleted)
