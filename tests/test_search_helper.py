"""A command-line search's warm helper (indexer/search_client.py, search_server.py): the second search
is answered by it with the same output, it follows a build's changes, it never answers another
environment, and it leaves when the index does. Only processes show this."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from indexer.search_client import socket_path_for

from .helpers import REPO_ROOT, fresh_picture_jpeg, indexer


def _search(index, *extra, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, bool]:
    """`python -m indexer search ...` in a process; whether it loaded the search itself (faiss)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "indexer", "search", "красный круг", "--index", str(index), *extra],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    loaded = any(line.split("|")[-1].strip() == "faiss" for line in done.stderr.splitlines() if "import time:" in line)
    done.stderr = "\n".join(line for line in done.stderr.splitlines() if not line.startswith("import time:"))
    return done, loaded


def _helper_pid(lock) -> int | None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = lock.read_text().strip() if lock.exists() else ""
        if text and lock.with_suffix(".sock").exists():
            return int(text)
        time.sleep(0.1)
    return None


def _gone(pid: int, within_s: float = 10) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_a_second_search_is_answered_warm_with_the_same_output_and_follows_a_build(tmp_path):
    photos, index = tmp_path / "photos", tmp_path / "index"
    photos.mkdir()
    for colour, shape in (("красный", "круг"), ("синий", "квадрат")):
        (photos / f"{colour}-{shape}.jpg").write_bytes(fresh_picture_jpeg(colour, shape))
    assert indexer("build", photos, "--index", index, "--model", "demo", "--quiet").returncode == 0
    warm = {"RUPHOTO_SEARCH_HELPER_IDLE": "60"}
    lock = socket_path_for(index.absolute()).with_suffix(".lock")

    first, loaded = _search(index, env=warm)
    assert first.returncode == 0 and loaded, first.stderr
    pid = _helper_pid(lock)
    assert pid is not None, "no helper started after the first search"
    try:
        second, loaded = _search(index, env=warm)
        assert not loaded, "the second search loaded the search itself instead of asking the helper"
        assert (second.returncode, second.stdout) == (0, first.stdout)
        assert "красный-круг.jpg" in second.stdout.splitlines()[0]

        # A build adds a photo: the helper's open index sees it, as a fresh process does.
        (photos / "зелёный-круг.jpg").write_bytes(fresh_picture_jpeg("зелёный", "круг"))
        assert indexer("build", photos, "--index", index, "--quiet").returncode == 0
        after, loaded = _search(index, "--json", env=warm)
        assert not loaded and after.stdout.count('"path"') == 3, after.stdout

        # Another language: not this helper's environment, so the process answers itself, in Russian.
        russian, loaded = _search(index, "-k", "1", "--min-score", "0.99", env={**warm, "LANGUAGE": "ru"})
        assert loaded and russian.returncode == 0 and "нет уверенных совпадений" in russian.stdout

        # The index goes: the helper refuses, leaves, and the process says what is wrong itself.
        os.rename(index / "index.sqlite", tmp_path / "moved.sqlite")
        gone, loaded = _search(index, env=warm)
        assert gone.returncode != 0 and "build" in gone.stderr
        assert _gone(pid), "the helper stayed after its index went"
    finally:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("value", ["-1", "soon"])
def test_a_wrong_idle_setting_is_one_clear_error(three_photo_collection, value, monkeypatch):
    monkeypatch.setenv("RUPHOTO_SEARCH_HELPER_IDLE", value)
    done = indexer("search", "кот", "--index", three_photo_collection.index)
    assert done.returncode == 2 and not done.stdout
    assert "RUPHOTO_SEARCH_HELPER_IDLE" in done.stderr and "Traceback" not in done.stderr
