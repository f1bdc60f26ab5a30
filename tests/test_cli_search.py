"""`python -m indexer search`: the API's example images and filters, from the terminal.

The CLI runs in this process (helpers.indexer: its main(), its output and exit code). The tests share
one labelled demo collection (built once per session, see conftest.py): three dated albums of
colour+shape photos whose labels and EXIF dates the tests know. What the filters, unknown words and
identical copies do is tested at the API (test_search_api.py, test_vocabulary.py,
test_identical_files.py); here, that the options reach it and how the answer is worded.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from datetime import date, datetime
from pathlib import Path

import pytest
from PIL import Image

from indexer.__main__ import _parser
from indexer.search_cli import queries_kept_whole

from .helpers import REPO_ROOT, LabelledCollection, fresh_picture_jpeg, indexer

EXIF_IFD, DATE_TAKEN = 0x8769, 36867  # DateTimeOriginal lives in the Exif sub-IFD
ROW = re.compile(r"^\s*(-?\d+\.\d{3})  (\d{4}-\d\d-\d\d \d\d:\d\d|-)\s+(\S.*)$")


def search(collection: LabelledCollection, *argv: str | Path) -> list[dict]:
    """The JSON lines of a successful search of the collection."""
    result = indexer("search", *argv, "--index", collection.index, "--device", "cpu", "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def taken(photo: Path) -> datetime:
    """The photo's EXIF date taken, read with Pillow (not by the indexer)."""
    with Image.open(photo) as image:
        return datetime.strptime(image.getexif().get_ifd(EXIF_IFD)[DATE_TAKEN], "%Y:%m:%d %H:%M:%S")


def indexed_photos(collection: LabelledCollection) -> list[Path]:
    return sorted(p for p in collection.photos.rglob("*.jpg") if p.name in collection.label_of)


@pytest.mark.slow
def test_the_folder_and_date_filters_reach_the_search_and_an_empty_answer_says_why(labelled_collection):
    """The CLI's plumbing and wording of the filters; what they keep is the API's (test_search_api.py)."""
    album = sorted(p for p in labelled_collection.photos.iterdir() if p.is_dir())[0]
    in_album = {str(p) for p in indexed_photos(labelled_collection) if p.parent == album}
    hits = search(labelled_collection, "круг", "-k", "500", "--folder", album)
    assert {hit["path"] for hit in hits} == in_album
    # A relative folder is taken from the current folder (the helper runs in the repository root).
    relative = search(labelled_collection, "круг", "-k", "500", "--folder", os.path.relpath(album, REPO_ROOT))
    assert relative == hits

    dates = {str(p): taken(p) for p in indexed_photos(labelled_collection)}
    days = sorted({when.date() for when in dates.values()})
    first, last = days[len(days) // 4], days[len(days) // 2]  # a range inside the collection's span
    expected = {path for path, when in dates.items() if first <= when.date() <= last}
    hits = search(labelled_collection, "звезда", "-k", "500", "--date-from", first, "--date-to", last)
    assert {hit["path"] for hit in hits} == expected
    assert all(datetime.fromisoformat(hit["taken_at"]) == dates[hit["path"]] for hit in hits)

    long_ago = ("--date-from", "1990-01-01", "--date-to", "1990-12-31")
    nothing = indexer("search", "круг", *long_ago, "--index", labelled_collection.index, "--device", "cpu")
    assert nothing.returncode == 0, nothing.stderr
    assert nothing.stdout.startswith("no photo matches the filters (--date-from 1990-01-01")


@pytest.mark.slow
def test_an_empty_index_is_told_apart_from_filters_that_leave_nothing(tmp_path):
    from indexer.build import BuildOptions, build_index

    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "broken.jpg").write_bytes(b"not a JPEG")  # a build that records the model and no photo
    build_index(photos, BuildOptions(index_dir=tmp_path / "index", model="demo", device="cpu", progress=False))
    empty = indexer("search", "круг", "--index", tmp_path / "index", "--device", "cpu")
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.startswith("the index holds no photos yet: 1 file could not be read")


@pytest.mark.slow
def test_an_example_picture_from_anywhere_ranks_its_kind_first(labelled_collection, tmp_path):
    example = tmp_path / "мой красный круг.jpg"
    example.write_bytes(fresh_picture_jpeg("красный", "круг"))
    red_circles = labelled_collection.names_labelled("красный", "круг")
    hits = search(labelled_collection, "--image", example, "-k", str(len(red_circles)))
    assert {Path(hit["path"]).name for hit in hits} == red_circles


@pytest.mark.slow
def test_an_indexed_example_is_left_out_by_path_and_by_id(labelled_collection):
    example = indexed_photos(labelled_collection)[0]
    by_path = search(labelled_collection, "--image", example, "-k", "3")
    assert len(by_path) == 3 and str(example) not in [hit["path"] for hit in by_path]
    label_of = labelled_collection.label_of
    assert label_of[Path(by_path[0]["path"]).name] == label_of[example.name]
    # The id that --json printed names the same photo: the same search, that photo left out.
    neighbour = by_path[0]
    by_id = search(labelled_collection, "--image", str(neighbour["id"]), "-k", "3")
    assert by_id == search(labelled_collection, "--image", neighbour["path"], "-k", "3")
    assert neighbour["id"] not in [hit["id"] for hit in by_id]


@pytest.mark.slow
def test_min_score_above_every_score_says_so(labelled_collection):
    best = search(labelled_collection, "зелёный треугольник", "-k", "1")[0]["score"]
    argv = ("search", "зелёный треугольник", "--index", labelled_collection.index, "--device", "cpu")
    threshold = f"{best + 0.01:.4f}".rstrip("0")
    above = indexer(*argv, "--min-score", threshold)
    assert above.returncode == 0, above.stderr
    said = re.fullmatch(
        rf"no confident match \(best score (\d\.\d{{3}}) is below --min-score {threshold}\)\n", above.stdout
    )
    assert said and abs(float(said.group(1)) - best) < 0.0006, above.stdout
    below = indexer(*argv, "--min-score", f"{best - 0.3:.4f}", "-k", "50")
    scores = [float(row.group(1)) for line in below.stdout.splitlines() if (row := ROW.match(line))]
    assert scores and min(scores) >= best - 0.3 - 0.0005 and abs(max(scores) - best) < 0.0006
    assert len(scores) < 50  # the weaker ones were left out


@pytest.mark.slow
def test_the_table_shows_score_date_and_path(labelled_collection):
    result = indexer("search", "синий", "--index", labelled_collection.index, "--device", "cpu", "-k", "5")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rows = [row for line in lines if (row := ROW.match(line))]
    assert len(rows) == 5, result.stdout
    # Under each row, its tags (the demo's colours and shapes).
    assert [line.split()[0] for line in lines if not ROW.match(line)] == ["tags:"] * 5, result.stdout
    for row in rows:
        assert row.group(2) == taken(Path(row.group(3))).strftime("%Y-%m-%d %H:%M")
    assert [float(row.group(1)) for row in rows] == sorted((float(row.group(1)) for row in rows), reverse=True)


@pytest.mark.slow
def test_words_the_model_does_not_know_are_said_so(labelled_collection):
    result = indexer("search", "рыжий кот", "--index", labelled_collection.index, "--device", "cpu")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and "«рыжий», «кот»" in lines[0] and "красный" in lines[0], result.stdout


@pytest.mark.slow
def test_identical_copies_are_listed_under_their_photo(copies_collection):
    """The CLI's wording of copies (`also_at`, "also at:"); what a copy is, is the API's (test_identical_files.py)."""
    photos = copies_collection.photos
    star, twin = photos / "star.jpg", photos / "копия" / "star.jpg"
    argv = ("search", "красная звезда", "--index", copies_collection.index, "--device", "cpu", "-k", "3")
    found = indexer(*argv, "--json")
    assert found.returncode == 0, found.stderr
    hits = [json.loads(line) for line in found.stdout.splitlines()]
    assert len(hits) == 3, (hits, found.stderr)  # three photos, not four: the twin is one of them
    same = [hit for hit in hits if {hit["path"], *hit["also_at"]} == {str(star), str(twin)}]
    assert len(same) == 1 and len(same[0]["also_at"]) == 1, hits
    assert all(hit["also_at"] == [] for hit in hits if hit is not same[0])
    table = indexer(*argv).stdout.splitlines()
    row = next(i for i, line in enumerate(table) if line.endswith(same[0]["path"]))
    assert table[row + 1].split() == ["also", "at:", *same[0]["also_at"][0].split()], table


@pytest.mark.slow
def test_a_bad_example_is_one_line_naming_it(labelled_collection, tmp_path):
    not_a_picture = tmp_path / "заметки.jpg"
    not_a_picture.write_text("a shopping list")
    for image, named in [
        (tmp_path / "нет такого.jpg", str(tmp_path / "нет такого.jpg")),
        (not_a_picture, str(not_a_picture)),
        ("987654", "987654"),
    ]:
        result = indexer("search", "--image", image, "--index", labelled_collection.index, "--device", "cpu")
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.splitlines()) == 1 and named in result.stderr, result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["круг", "--date-from", "2023-13-01"],
            "argument --date-from: expected a date as YYYY-MM-DD, got '2023-13-01'",
        ),
        (["круг", "--date-to", "15.06.2023"], "argument --date-to"),
        (["круг", "--date-from", "2023-07-01", "--date-to", "2023-06-01"], "--date-from 2023-07-01 is after --date-to"),
        (["--json"], "give a QUERY, an --image, a --tag or a --category"),
        (["круг", "--min-score", "high"], "argument --min-score"),
    ],
)
def test_bad_options_are_usage_errors(argv, said):
    result = indexer("search", *argv, "--index", "/nowhere")
    assert result.returncode == 2 and said in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_help_teaches_with_examples():
    result = indexer("search", "--help")
    assert result.returncode == 0
    for text in ("--image", "--image-weight", "--folder", "--date-from", "--date-to", "--min-score", "examples:"):
        assert text in result.stdout
    examples = [line for line in result.stdout.splitlines() if line.startswith("  python -m indexer search")]
    assert len(examples) >= 3 and any("--image" in line for line in examples), examples
    for example in examples:  # every example parses
        _parser().parse_args(queries_kept_whole(shlex.split(example.split("#")[0])[3:]))


def test_the_query_is_optional_with_an_image_and_may_start_with_a_minus():
    args = _parser().parse_args(queries_kept_whole(["search", "--image", "5", "-k", "3"]))
    assert (args.query, args.image, args.k) == (None, "5", 3)
    args = _parser().parse_args(queries_kept_whole(["search", "--image", "x.jpg", "-красный", "--image-weight", "-1"]))
    assert (args.query.strip(), args.image, args.image_weight) == ("-красный", "x.jpg", -1.0)
    args = _parser().parse_args(["search", "закат", "--date-from", "2023-06-01", "--folder", "album"])
    assert args.date_from == date(2023, 6, 1) and args.folder == Path.cwd() / "album"
