"""`python -m indexer tags`, `category` and `search --tag/--category`: the options reach the labels API
and every bad input is one line and exit code 2. What the tags and categories hold is tested at the API
(test_labels.py); here, the CLI's plumbing and wording, on the session's labelled demo collection."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from .helpers import LabelledCollection, fresh_picture_jpeg, indexer


def lines_of(result) -> list[dict]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture
def own_index(labelled_collection: LabelledCollection, tmp_path: Path) -> Path:
    """A copy of the collection's index, for the commands that change it."""
    return Path(shutil.copytree(labelled_collection.index, tmp_path / "index"))


def one_error_line(result, *words: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_tags_lists_the_counts_that_search_by_tag_finds(labelled_collection):
    index = labelled_collection.index
    tags = {tag["name"]: tag for tag in lines_of(indexer("tags", "--index", index, "--json"))}
    assert {"звезда", "красный"} <= set(tags) and all(tag["count"] > 0 for tag in tags.values())
    hits = lines_of(indexer("search", "--index", index, "--tag", "звезда", "-k", "1000", "--json"))
    assert len(hits) == tags["звезда"]["count"]
    assert all("звезда" in hit["tags"] for hit in hits)
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)  # by the tag's share, best first
    # Words and two tags together: every hit carries both.
    both = lines_of(indexer("search", "синий", "--index", index, "--tag", "звезда", "--tag", "синий", "--json"))
    assert both and all({"звезда", "синий"} <= set(hit["tags"]) for hit in both)
    # The table groups the tags under their group's heading.
    table = indexer("tags", "--index", index).stdout
    assert "фигура:" in table and "цвет:" in table and "свои:" not in table


def test_a_category_is_taught_shown_corrected_and_removed(labelled_collection, own_index):
    stars = [name for name in labelled_collection.names_labelled("красный", "звезда")]
    paths = sorted(p for p in labelled_collection.photos.rglob("*.jpg") if p.name in stars)
    added = indexer("category", "add", "звёзды", "--index", own_index, "--example", paths[0], "--example", paths[1])
    assert added.returncode == 0, added.stderr
    assert "звёзды" in added.stdout
    members = lines_of(indexer("category", "show", "звёзды", "--index", own_index, "--json", "--limit", "100"))
    assert {str(paths[0]), str(paths[1])} <= {member["path"] for member in members}
    # «не то» for a member that is no example when there is one, else for the second example.
    others = [m for m in members if m["path"] not in {str(paths[0]), str(paths[1])}]
    wrong = others[0] if others else next(m for m in members if m["path"] == str(paths[1]))
    corrected = indexer("category", "correct", "звёзды", "--index", own_index, "--not", str(wrong["id"]))
    assert corrected.returncode == 0, corrected.stderr
    after = lines_of(indexer("category", "show", "звёзды", "--index", own_index, "--json", "--limit", "100"))
    assert wrong["id"] not in {member["id"] for member in after}
    listed = lines_of(indexer("category", "list", "--index", own_index, "--json"))
    assert [(c["name"], c["not_examples"]) for c in listed] == [("звёзды", [wrong["id"]])]
    found = lines_of(indexer("search", "--index", own_index, "--category", "звёзды", "-k", "100", "--json"))
    assert {hit["id"] for hit in found} == {member["id"] for member in after}
    assert all("звёзды" in hit["categories"] for hit in found)
    assert indexer("category", "remove", "звёзды", "--index", own_index).returncode == 0
    assert lines_of(indexer("category", "list", "--index", own_index, "--json")) == []


def test_an_own_tag_is_added_and_removed_and_a_vocabulary_tag_stays(own_index):
    added = indexer("tags", "add", "пятно", "--phrasing", "красное пятно", "--index", own_index)
    assert added.returncode == 0, added.stderr
    own = [t for t in lines_of(indexer("tags", "--all", "--index", own_index, "--json")) if t["own"]]
    assert [(t["name"], t["group"]) for t in own] == [("пятно", "свои")]
    one_error_line(indexer("tags", "remove", "круг", "--index", own_index), "круг")
    assert indexer("tags", "remove", "пятно", "--index", own_index).returncode == 0
    assert not [t for t in lines_of(indexer("tags", "--all", "--index", own_index, "--json")) if t["own"]]


def test_every_bad_input_is_one_line(labelled_collection, own_index, tmp_path, monkeypatch):
    index = labelled_collection.index
    one_error_line(indexer("search", "--index", index, "--tag", "звизда"), "звизда", "звезда")
    one_error_line(indexer("search", "--index", index, "--category", "нет такой"), "нет такой")
    one_error_line(indexer("category", "show", "нет такой", "--index", index), "нет такой")
    one_error_line(indexer("category", "add", "x", "--index", own_index), "--example")  # argparse's
    elsewhere = tmp_path / "elsewhere.jpg"  # a photo of no index
    elsewhere.write_bytes(fresh_picture_jpeg("красный", "звезда"))
    one_error_line(indexer("category", "add", "x", "--index", own_index, "--example", elsewhere), str(elsewhere))
    one_error_line(indexer("category", "add", "x", "--index", own_index, "--example", "999999"), "999999")
    one_error_line(indexer("category", "correct", "x", "--index", own_index), "--example")
    first = next(iter(sorted(labelled_collection.photos.rglob("IMG_*.jpg"))))
    assert indexer("category", "add", "x", "--index", own_index, "--example", first).returncode == 0
    one_error_line(indexer("category", "add", "x", "--index", own_index, "--example", first), "x")  # taken
    one_error_line(indexer("search", "--index", own_index), "--tag")  # nothing to search for
    # A category of another model's vectors: refused, never applied.
    from search.store import IndexStore

    store = IndexStore(own_index)
    try:
        record = store.labels.category("x")
        store.labels.save_category("чужая", None, "0" * 64, record.weights, record.bias, record.positives, [], [])
    finally:
        store.close()
    one_error_line(indexer("search", "--index", own_index, "--category", "чужая"), "чужая")
    listed = indexer("category", "list", "--index", own_index).stdout
    assert "чужая" in listed and "another model" in listed
    # scikit-learn missing: the line says how to install it.
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.linear_model", None)
    one_error_line(indexer("category", "add", "y", "--index", own_index, "--example", first), "scikit-learn")
    # An index folder with no build.
    one_error_line(indexer("tags", "--index", tmp_path / "no index"))
