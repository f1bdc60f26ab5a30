"""The demo lives in an index of its own, and a build never silently encodes the user's photos
with the demo model (issue 16: the Quickstart's next step used to mix them into the demo's index)."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from search.paths import default_index_dir, demo_index_dir
from search.store import DATABASE_FILE

from .helpers import GOLDEN, REPO_ROOT, TINY_MODEL, indexer

DEMO_PHOTOS = REPO_ROOT / "data" / "demo" / "photos"


def test_the_demo_index_is_a_folder_of_its_own_moved_by_ruphoto_data(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("RUPHOTO_DATA", raising=False)
    assert demo_index_dir() == Path("data") / "demo-index"
    assert demo_index_dir() != default_index_dir()
    monkeypatch.setenv("RUPHOTO_DATA", str(tmp_path))
    assert demo_index_dir() == tmp_path / "demo-index"
    assert default_index_dir() == tmp_path / "index"


def test_git_ignores_the_demo_index():
    ignored = (REPO_ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert "data/demo-index/" in ignored and "data/index/" in ignored


def indexed_paths(index: Path) -> list[str]:
    with sqlite3.connect(index / DATABASE_FILE) as db:
        return sorted(os.fsdecode(row[0]) for row in db.execute("SELECT path FROM images"))


@pytest.fixture
def demo_built(tmp_path: Path) -> tuple[Path, Path]:
    """A few demo photos indexed with the demo model into an index of their own."""
    demo = tmp_path / "demo"
    demo.mkdir()
    for photo in sorted((DEMO_PHOTOS / "2023 лето").glob("*.jpg"))[:3]:
        shutil.copy(photo, demo / photo.name)
    index = tmp_path / "demo-index"
    run = indexer("build", demo, "--index", index, "--model", "demo", "--device", "cpu", "--quiet")
    assert run.returncode == 0, run.stderr
    return demo, index


@pytest.mark.slow
def test_a_new_folder_is_not_built_into_the_demo_index_without_asking(demo_built, tmp_path: Path):
    demo, index = demo_built
    mine = tmp_path / "Pictures"
    mine.mkdir()
    shutil.copy(GOLDEN / "images" / "rocket.jpg", mine / "ракета.jpg")
    before = indexed_paths(index)

    refused = indexer("build", mine, "--index", index, "--device", "cpu", "--quiet")
    assert refused.returncode == 2
    message = refused.stderr
    assert message.startswith("error: ") and "Traceback" not in message
    assert str(index) in message and "demo model (colours and shapes only)" in message
    assert "another --index folder" in message and "--model demo" in message  # both ways out
    assert indexed_paths(index) == before  # nothing written

    on_purpose = indexer("build", mine, "--index", index, "--model", "demo", "--device", "cpu", "--quiet")
    assert on_purpose.returncode == 0, on_purpose.stderr
    assert indexed_paths(index) == sorted([*before, str(mine / "ракета.jpg")])


@pytest.mark.slow
def test_the_demo_folder_itself_is_rebuilt_without_model_and_the_build_says_which_model(demo_built, monkeypatch):
    monkeypatch.delenv("RUCLIP_MODEL", raising=False)
    demo, index = demo_built
    again = indexer("build", demo, "--index", index, "--device", "cpu", "--quiet")
    assert again.returncode == 0, again.stderr
    assert "unchanged 3" in again.stdout
    assert f"using model demo, recorded in {index}" in again.stderr
    assert "ruclip-vit-base-patch32-384, the default" in again.stderr


@pytest.mark.slow
def test_a_recorded_model_other_than_ruclip_model_is_kept_and_named(tmp_path: Path, monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(GOLDEN / "images" / "rocket.jpg", photos / "rocket.jpg")
    index = tmp_path / "index"
    monkeypatch.setenv("RUCLIP_MODEL", str(TINY_MODEL))
    first = indexer("build", photos, "--index", index, "--device", "cpu", "--quiet")
    assert first.returncode == 0, first.stderr
    assert "using model" not in first.stderr  # a first build: the model $RUCLIP_MODEL names
    same = indexer("build", photos, "--index", index, "--device", "cpu", "--quiet")
    assert same.returncode == 0 and "using model" not in same.stderr  # what $RUCLIP_MODEL says: nothing to tell

    monkeypatch.setenv("RUCLIP_MODEL", "ruclip-vit-large-patch14-336")
    other = indexer("build", photos, "--index", index, "--device", "cpu", "--quiet")
    assert other.returncode == 0, other.stderr  # the index's model, not the one $RUCLIP_MODEL names
    assert f"using model {TINY_MODEL}, recorded in {index}" in other.stderr
    assert "(not ruclip-vit-large-patch14-336, $RUCLIP_MODEL)" in other.stderr
