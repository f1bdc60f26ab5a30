"""search.open_index: query language, example images, filters inside the search, safety."""

from __future__ import annotations

import shutil
import threading
from datetime import date
from pathlib import Path

import numpy as np
import pytest

import search
from indexer.build import BuildOptions, build_index
from search.query.language import QueryError, Term, parse_query
from training.captions import COLOURS, SHAPES
from training.demo import DEMO_ALBUMS, write_demo_photos

from .helpers import TINY_MODEL

PER_PAIR = 3  # 96 photos: 3 of each colour+shape pair, spread over three dated albums


def label(path: str) -> tuple[str, str]:
    """The picture's colour and shape, from the generator's cycle (index i: colour i % 8, shape i // 8 % 4)."""
    index = int(Path(path).stem.split("_")[1]) - 1
    return COLOURS[index % len(COLOURS)].name, SHAPES[(index // len(COLOURS)) % len(SHAPES)].name


@pytest.fixture(scope="module")
def demo_index(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("search")
    photos, index_dir = root / "photos", root / "index"
    write_demo_photos(photos, seed=5, per_pair=PER_PAIR)
    build_index(photos, BuildOptions(index_dir=index_dir, model="demo", device="cpu", workers=1, progress=False))
    return photos, index_dir


@pytest.fixture(scope="module")
def index(demo_index) -> search.PhotoIndex:
    return search.open_index(demo_index[1], device="cpu")


def test_query_language():
    assert parse_query("кот + снег − собака") == [Term("кот", 1.0), Term("снег", 1.0), Term("собака", -1.0)]
    assert parse_query("2:кот - 0,5:собака") == [Term("кот", 2.0), Term("собака", -0.5)]
    assert parse_query("что-то чёрно-белое") == [Term("что-то чёрно-белое", 1.0)]
    with pytest.raises(QueryError):
        parse_query("кот + ")
    with pytest.raises(QueryError):
        parse_query("0:кот")


def test_stats(index, demo_index):
    stats = index.stats()
    assert stats.images == len(index) == 32 * PER_PAIR and stats.failed == 0 and stats.failures == {}
    assert stats.model == "demo" and stats.index_type == "flat-ip"
    assert stats.roots == [str(demo_index[0])]
    assert stats.taken_from.year == 2023 and stats.taken_to.year == 2025  # the albums' EXIF dates
    assert stats.last_build is not None and stats.last_build.tzinfo is not None
    assert index.stats() is stats  # nothing changed since: not counted again


def test_every_image_is_its_own_top_hit(index, demo_index):
    assert len(index) == 32 * PER_PAIR
    photos, _ = demo_index
    for path in sorted(photos.rglob("*.jpg")):
        hits = index.search(image=path, k=1)
        assert hits[0].path == str(path) and hits[0].score > 0.999


def test_an_image_embedding_kept_by_the_caller_is_a_query(index, demo_index):
    path = sorted(demo_index[0].rglob("*.jpg"))[5]
    vector = index.model.encode_images([path])[0]
    assert [h.id for h in index.search(image=vector * 3.0, k=5)] == [h.id for h in index.search(image=path, k=5)]
    with pytest.raises(QueryError, match="shape"):
        index.search(image=vector[:10])


def test_a_search_leaves_the_threads_setting_of_faiss_as_it_was(index):
    import faiss

    before = faiss.omp_get_max_threads()
    index.search("синий квадрат", k=5, folder=Path("/nowhere"))
    index.search("синий квадрат", k=5)
    assert faiss.omp_get_max_threads() == before


def test_hits_carry_metadata_best_first(index):
    hits = index.search("синий квадрат", k=5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(label(h.path) == ("синий", "квадрат") for h in hits[:3])
    assert all(h.width == 320 and h.height == 240 and h.taken_at is not None for h in hits)


def test_subtracting_a_colour_keeps_the_shape_and_drops_the_colour(index):
    hits = index.search("круг - красный", k=10)
    labels = [label(h.path) for h in hits]
    assert sum(shape == "круг" for _, shape in labels) >= 8, labels
    assert not any(colour == "красный" for colour, _ in labels), labels
    plain = [label(h.path) for h in index.search("круг", k=24)]
    assert any(colour == "красный" for colour, _ in plain), "without the minus, red circles are among circles"


def test_an_example_image_and_a_colour_combine(index, demo_index):
    photos, _ = demo_index
    blue_star = next(p for p in sorted(photos.rglob("*.jpg")) if label(str(p)) == ("синий", "звезда"))
    hits = index.search("жёлтый", image=blue_star, k=3, exclude=[index.id_of(blue_star)])
    assert all(label(h.path) == ("жёлтый", "звезда") for h in hits), [label(h.path) for h in hits]


def test_similar_leaves_the_example_out(index, demo_index):
    photos, _ = demo_index
    example = sorted(photos.rglob("*.jpg"))[0]
    hits = index.similar(example, k=2)
    assert str(example) not in [h.path for h in hits]
    assert label(hits[0].path) == label(str(example))


def test_filters_return_k_hits_whenever_k_match(index, demo_index):
    photos, _ = demo_index
    album = photos / DEMO_ALBUMS[0]
    in_album = len(list(album.glob("*.jpg")))
    # Red circles are rare in any one album; the filter must still fill k from that album.
    hits = index.search("красный круг", k=12, folder=album)
    assert len(hits) == 12 and all(Path(h.path).parent == album for h in hits)
    assert len(index.search("красный круг", k=500, folder=album)) == in_album
    year = int(DEMO_ALBUMS[1][:4])
    dated = index.search("звезда", k=10, date_from=date(year, 1, 1), date_to=date(year, 12, 31))
    assert len(dated) == 10 and all(h.taken_at.year == year for h in dated)
    assert index.search("звезда", k=5, date_from=date(1990, 1, 1), date_to=date(1990, 12, 31)) == []


def test_a_date_range_keeps_exactly_the_photos_taken_on_its_days_both_ends_included(index, demo_index):
    from datetime import datetime

    from PIL import Image

    def taken(path: Path) -> datetime:  # the EXIF date, read with Pillow (not by the indexer)
        with Image.open(path) as image:
            return datetime.strptime(image.getexif().get_ifd(0x8769)[36867], "%Y:%m:%d %H:%M:%S")

    dates = {str(path): taken(path) for path in demo_index[0].rglob("*.jpg")}
    days = sorted({when.date() for when in dates.values()})
    first, last = days[len(days) // 4], days[len(days) // 2]  # a range inside the collection's span
    expected = {path for path, when in dates.items() if first <= when.date() <= last}
    hits = index.search("звезда", k=500, date_from=first, date_to=last)
    assert {hit.path for hit in hits} == expected and len(hits) == len(expected)
    assert all(hit.taken_at == dates[hit.path] for hit in hits)
    one_day = index.search("звезда", k=500, date_from=last, date_to=last)
    assert {hit.path for hit in one_day} == {path for path, when in dates.items() if when.date() == last}


def test_prompt_ensembling_averages_the_templates(demo_index, index):
    from search import RUSSIAN_PROMPTS

    ensembled = search.open_index(demo_index[1], model=index.model, prompts=RUSSIAN_PROMPTS)
    captions = index.model.encode_texts([t.format("жёлтая звезда") for t in RUSSIAN_PROMPTS])
    expected = captions.mean(axis=0) / np.linalg.norm(captions.mean(axis=0))
    assert np.allclose(ensembled.query_vector("жёлтая звезда"), expected, atol=1e-6)
    assert not np.allclose(ensembled.query_vector("жёлтая звезда"), index.query_vector("жёлтая звезда"), atol=1e-3)
    hits = ensembled.search("жёлтая звезда", k=3)
    assert all(label(h.path) == ("жёлтый", "звезда") for h in hits)


def test_a_request_is_checked_once_and_runs_as_search_does(index):
    with pytest.raises(QueryError) as empty_term:
        search.SearchRequest("кот + ")  # refused when made, before any search
    assert empty_term.value.reason is search.QueryProblem.EMPTY_TERM
    request = search.SearchRequest("2:звезда + синий", k=4, exclude=iter([1]))
    assert request.terms == (Term("звезда", 2.0), Term("синий", 1.0)) and request.exclude == (1,)
    assert [h.id for h in index.run(request)] == [h.id for h in index.search("2:звезда + синий", k=4, exclude=[1])]


def test_an_empty_result_says_why(index, tmp_path):
    found = index.search("звезда", k=3)
    assert len(found) == 3 and found.empty_reason is None and found.best_score == found[0].score

    long_ago = index.search("звезда", date_from=date(1990, 1, 1), date_to=date(1990, 12, 31))
    assert long_ago == [] and long_ago.empty_reason is search.EmptyReason.FILTERS_LEAVE_NOTHING

    unknown = index.search("кот")
    assert unknown.empty_reason is search.EmptyReason.UNKNOWN_WORDS and "знает только" in unknown.note

    best = found[0].score
    weak = index.search("звезда", min_score=best + 0.01)
    assert weak.empty_reason is search.EmptyReason.BELOW_MIN_SCORE and weak.best_score == pytest.approx(best)

    everyone = [h.id for h in index.search("звезда", k=len(index))]
    alone = index.search(image=everyone[0], exclude=everyone)
    assert alone.empty_reason is search.EmptyReason.NOTHING_LEFT and alone.best_score is None

    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "broken.jpg").write_bytes(b"not a JPEG")  # a build that records the model and no photo
    build_index(photos, BuildOptions(index_dir=tmp_path / "index", model="demo", device="cpu", progress=False))
    empty = search.open_index(tmp_path / "index", model=index.model)
    assert empty.search("звезда").empty_reason is search.EmptyReason.INDEX_EMPTY
    assert empty.search("кот").empty_reason is search.EmptyReason.INDEX_EMPTY  # before the words are judged


def test_min_score_says_when_nothing_matches(index):
    best = index.search("зелёный треугольник", k=1)[0].score
    assert index.search("зелёный треугольник", k=5, min_score=best + 0.01) == []
    assert len(index.search("зелёный треугольник", k=5, min_score=best - 0.5)) == 5


def test_another_model_is_refused(demo_index):
    with pytest.raises(search.IndexStoreError, match="other weights"):
        search.open_index(demo_index[1], model=str(TINY_MODEL), device="cpu")


def test_a_reader_sees_a_concurrent_build_and_then_its_new_images(tmp_path, demo_index):
    photos, index_dir = demo_index
    mine, my_index = tmp_path / "photos", tmp_path / "index"
    shutil.copytree(photos / DEMO_ALBUMS[0], mine / DEMO_ALBUMS[0])
    options = BuildOptions(index_dir=my_index, model="demo", device="cpu", workers=1, progress=False, batch_size=4)
    build_index(mine, options)
    reader = search.open_index(my_index, device="cpu")
    before = len(reader)
    for album in DEMO_ALBUMS[1:]:
        shutil.copytree(photos / album, mine / album)
    errors: list[BaseException] = []
    builder = threading.Thread(target=lambda: build_index(mine, options), daemon=True)
    builder.start()
    while builder.is_alive():  # every search during the build sees a consistent index
        try:
            hits = reader.search("звезда", k=5)
            assert len({h.id for h in hits}) == len(hits) and all(Path(h.path).exists() for h in hits)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            break
    builder.join()
    assert not errors, errors
    assert len(reader) == 32 * PER_PAIR > before
    newcomer = sorted((mine / DEMO_ALBUMS[2]).glob("*.jpg"))[0]
    assert reader.search(image=newcomer, k=1)[0].path == str(newcomer)
    vectors = np.stack([reader.query_vector("звезда"), reader.query_vector("звезда")])
    assert np.allclose(vectors[0], vectors[1])


@pytest.mark.parametrize("k", [2.5, "5", True, None])
def test_a_k_that_is_not_a_whole_number_is_refused_plainly(index, k):
    with pytest.raises(QueryError, match="k is how many results"):
        index.search("красный", k=k)


def test_image_true_is_not_read_as_the_photo_with_id_1(index):
    with pytest.raises(QueryError, match="image is a picture"):
        index.search(image=True)


def test_a_reader_whose_pooled_connection_keeps_an_old_snapshot_catches_up(tmp_path):
    """A pooled connection returned with a half-read statement keeps its read snapshot (Python 3.11
    resets no statement on rollback): the reader must still see a build's commit within a second."""
    import time

    from indexer.build import BuildOptions, build_index
    from search.query.ranking import FRESH_CHECK_S

    from .helpers import fresh_picture_jpeg

    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(fresh_picture_jpeg("синий", "круг"))
    options = BuildOptions(index_dir=tmp_path / "index", model="demo", device="cpu", workers=1, progress=False)
    build_index(photos, options)
    index = search.open_index(tmp_path / "index", device="cpu")
    assert len(index.search("синий круг", k=5)) == 1

    pooled = index._store.engine.raw_connection()
    half_read = pooled.driver_connection.execute("SELECT id FROM images UNION ALL SELECT id FROM images")
    half_read.fetchone()  # the statement stays open: its snapshot is pinned
    pooled.close()  # back to the pool, snapshot and all

    (photos / "b.jpg").write_bytes(fresh_picture_jpeg("красный", "звезда"))
    build_index(photos, options)  # another writer commits
    time.sleep(FRESH_CHECK_S)
    assert len(index.search("синий круг", k=5)) == 2
    del half_read
