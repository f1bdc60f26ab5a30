"""Identical files (the same bytes at several paths: backups, exports, "copy of") are one photo:
encoded once, one vector in the FAISS file, shown once with the other paths ("also at")."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import search
from indexer.build import BuildOptions, build_index
from indexer.encode import encode_batch
from indexer.scan import FoundFile
from search.images import PhotoFacts, file_hash
from search.store import DATABASE_FILE, IndexedImage, IndexStore, RowState
from search.store.vectors import catch_up, load_vectors
from search.store.verify import verify_index

from .helpers import fresh_picture_jpeg

DIM = 4


def _unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def _image(path: Path, digest: str, vector: np.ndarray) -> IndexedImage:
    return IndexedImage(FoundFile(str(path), 10, 1), vector, PhotoFacts(8, 8, None, None, digest))


@pytest.fixture
def store(tmp_path: Path):
    opened = IndexStore(tmp_path / "index", create=True)
    yield opened
    opened.close()


def test_a_file_identical_to_an_indexed_one_is_its_copy_and_stays_out_of_the_vector_index(store, tmp_path):
    red, blue = _unit(1, 0, 0, 0), _unit(0, 1, 0, 0)
    root = store.add_root(tmp_path)
    store.write_batch(root, [_image(tmp_path / "a.jpg", "h-red", red), _image(tmp_path / "b.jpg", "h-blue", blue)])
    store.write_batch(root, [_image(tmp_path / "backup" / "a.jpg", "h-red", red)])
    with sqlite3.connect(store.folder / DATABASE_FILE) as db:
        states = dict(db.execute("SELECT path, state FROM images"))
    assert states[str(tmp_path / "a.jpg").encode()] == RowState.INDEXED
    assert states[str(tmp_path / "backup" / "a.jpg").encode()] == RowState.COPY
    summary = store.summary()
    assert (summary.images, summary.copies) == (2, 1)

    vectors = load_vectors(store.folder, store, DIM)
    assert vectors.index.ntotal == 2
    original = store.id_of(tmp_path / "a.jpg")
    assert store.id_of(tmp_path / "backup" / "a.jpg") == original  # a copy's path finds the photo
    assert store.copies_of([original]) == {original: [str(tmp_path / "backup" / "a.jpg")]}
    # The folder filter finds the photo through its copy.
    assert list(store.ids_matching(tmp_path / "backup", None, None)) == [original]


def test_when_the_indexed_file_goes_a_copy_takes_its_place(store, tmp_path):
    red = _unit(1, 0, 0, 0)
    root = store.add_root(tmp_path)
    store.write_batch(root, [_image(tmp_path / name, "h-red", red) for name in ("a.jpg", "b.jpg", "c.jpg")])
    vectors = load_vectors(store.folder, store, DIM)
    first = store.id_of(tmp_path / "a.jpg")
    assert vectors.index.ntotal == 1

    store.move_and_delete([], [first])  # a.jpg deleted: b.jpg is the photo now, c.jpg its copy
    vectors = catch_up(store, vectors, DIM)
    second = store.id_of(tmp_path / "b.jpg")
    assert second != first and store.id_of(tmp_path / "c.jpg") == second
    assert vectors.index.ntotal == 1 and vectors.index.reconstruct(second) is not None
    assert store.copies_of([second]) == {second: [str(tmp_path / "c.jpg")]}

    # b.jpg edited (other content): c.jpg is promoted, b.jpg is a photo of its own.
    store.write_batch(root, [_image(tmp_path / "b.jpg", "h-edited", _unit(0, 0, 1, 0))])
    vectors = catch_up(store, vectors, DIM)
    assert store.id_of(tmp_path / "c.jpg") != store.id_of(tmp_path / "b.jpg")
    assert vectors.index.ntotal == 2
    assert (store.summary().images, store.summary().copies) == (2, 0)


class CountingModel:
    """The real demo model, counting the pictures it encodes."""

    def __init__(self, model):
        self.model, self.encoded = model, 0

    def encode_squares(self, squares):
        self.encoded += len(squares)
        return self.model.encode_squares(squares)


def test_identical_files_are_encoded_once(tmp_path):
    from search.images import decode_one

    model = search.load_model("demo", device="cpu")
    photo = tmp_path / "a.jpg"
    photo.write_bytes(fresh_picture_jpeg("красный", "звезда"))
    shutil.copyfile(photo, tmp_path / "copy of a.jpg")
    other = tmp_path / "b.jpg"
    other.write_bytes(fresh_picture_jpeg("синий", "круг"))
    paths = [str(photo), str(tmp_path / "copy of a.jpg"), str(other)]
    results = [decode_one(path, model.config.image_resolution) for path in paths]
    files = {path: FoundFile(path, 1, 1) for path in paths}
    counting = CountingModel(model)

    rows = encode_batch(counting, results, files)
    assert counting.encoded == 2  # the copy took the original's vector
    assert np.array_equal(rows[0].vector, rows[1].vector) and [r.reused for r in rows] == [False, True, False]

    known = {file_hash(str(other)): rows[2].vector}
    again = encode_batch(counting, results[2:], {paths[2]: files[paths[2]]}, known=lambda hashes: known)
    assert counting.encoded == 2 and again[0].reused  # already in the index: nothing encoded


@pytest.mark.slow
def test_a_collection_with_copies_shows_each_photo_once(tmp_path):
    photos, index = tmp_path / "photos", tmp_path / "index"
    (photos / "2023").mkdir(parents=True)
    (photos / "backup" / "2023").mkdir(parents=True)
    star = photos / "2023" / "star.jpg"
    star.write_bytes(fresh_picture_jpeg("красный", "звезда"))
    (photos / "2023" / "circle.jpg").write_bytes(fresh_picture_jpeg("синий", "круг"))
    shutil.copyfile(star, photos / "backup" / "2023" / "star.jpg")
    shutil.copyfile(star, photos / "2023" / "star (copy).jpg")
    options = BuildOptions(index_dir=index, model="demo", device="cpu", workers=1, progress=False)

    summary = build_index(photos, options)
    assert summary.indexed == 4 and summary.reused == 2 and summary.total_indexed == 2

    copies = {str(star), str(photos / "backup" / "2023" / "star.jpg"), str(photos / "2023" / "star (copy).jpg")}
    opened = search.open_index(index, device="cpu")
    hits = opened.search("красная звезда", k=10)
    assert len(hits) == 2  # the star once, and the circle
    top = hits[0]
    assert {top.path, *top.also_at} == copies and len(top.also_at) == 2
    # Filtered to the backup folder, the photo is shown where it is there.
    [inside] = opened.search("красная звезда", k=10, folder=photos / "backup")
    assert inside.path == str(photos / "backup" / "2023" / "star.jpg") and {inside.path, *inside.also_at} == copies
    assert opened.stats().copies == 2
    from indexer.stats import index_stats

    assert "copies     2 files identical to a searchable photo" in "\n".join(index_stats(index))

    Path(top.path).unlink()  # the file shown goes: a copy is the photo now, with the same vector
    summary = build_index(photos, options)
    assert summary.deleted == 1 and summary.total_indexed == 2
    hits = opened.search("красная звезда", k=10)
    assert {hits[0].path, *hits[0].also_at} == copies - {top.path} and len(hits[0].also_at) == 1
    assert hits[0].id != top.id and np.isclose(hits[0].score, top.score, atol=1e-5)
    report = verify_index(index)
    assert report.ok and report.vectors == 2, report.problems


@pytest.mark.slow
def test_an_index_written_before_copies_existed_is_upgraded_to_one_photo_per_content(tmp_path):
    photos, index = tmp_path / "photos", tmp_path / "index"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(fresh_picture_jpeg("зелёный", "квадрат"))
    shutil.copyfile(photos / "a.jpg", photos / "b.jpg")
    (photos / "c.jpg").write_bytes(fresh_picture_jpeg("жёлтый", "треугольник"))
    build_index(photos, BuildOptions(index_dir=index, model="demo", device="cpu", workers=1, progress=False))
    # What schema 2 wrote for this folder: both identical files indexed, both in the FAISS file, and
    # no GPS columns yet (schema 4's), nor the pictures' prints (schema 5's).
    with sqlite3.connect(index / DATABASE_FILE) as db:
        db.execute("UPDATE images SET state = 'indexed'")
        db.execute("ALTER TABLE images DROP COLUMN latitude")
        db.execute("ALTER TABLE images DROP COLUMN longitude")
        db.execute("ALTER TABLE images DROP COLUMN picture_print")
        db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        db.execute("UPDATE meta SET value = value + 1 WHERE key = 'seq'")
        db.execute("UPDATE images SET seq = (SELECT value FROM meta WHERE key = 'seq')")
    opened = search.open_index(index, device="cpu")
    hits = opened.search("зелёный квадрат", k=10)
    assert len(hits) == 2 and hits[0].path == str(photos / "a.jpg") and hits[0].also_at == (str(photos / "b.jpg"),)
    assert opened.stats().images == 2 and opened.stats().copies == 1
    assert verify_index(index).ok


def _row_states(folder: Path) -> dict[str, str]:
    with sqlite3.connect(folder / DATABASE_FILE) as db:
        return {os.fsdecode(path): state for path, state in db.execute("SELECT path, state FROM images")}


def test_a_raw_beside_a_picture_of_its_name_is_shown_as_that_picture(store, tmp_path):
    root = store.add_root(tmp_path)
    jpeg, raw, edit = tmp_path / "IMG_1.JPG", tmp_path / "IMG_1.CR2", tmp_path / "IMG_1.edit.jpg"
    store.write_batch(root, [_image(raw, "h-raw", _unit(1, 0, 0, 0))])  # the RAW alone: a photo
    assert _row_states(store.folder)[str(raw)] == RowState.INDEXED
    vectors = load_vectors(store.folder, store, DIM)
    assert vectors.index.ntotal == 1

    store.write_batch(root, [_image(jpeg, "h-jpeg", _unit(1, 0.1, 0, 0)), _image(edit, "h-edit", _unit(0, 1, 0, 0))])
    vectors = catch_up(store, vectors, DIM)
    states = _row_states(store.folder)
    assert states[str(raw)] == RowState.TWIN and states[str(jpeg)] == RowState.INDEXED
    assert states[str(edit)] == RowState.INDEXED  # «IMG_1.edit» is another name
    assert vectors.index.ntotal == 2
    picture = store.id_of(jpeg)
    assert store.id_of(raw) == picture and store.raw_twins_of([str(jpeg), str(edit)]) == {str(jpeg): [str(raw)]}
    assert store.summary().raw_twins == 1

    moved = tmp_path / "elsewhere" / "IMG_1.JPG"  # the picture moves away: the RAW is a photo again
    store.move_and_delete([(FoundFile(str(moved), 10, 1), picture)], [])
    vectors = catch_up(store, vectors, DIM)
    assert _row_states(store.folder)[str(raw)] == RowState.INDEXED and vectors.index.ntotal == 3

    store.write_batch(root, [_image(jpeg, "h-jpeg-2", _unit(1, 0.2, 0, 0))])  # a picture of that name again
    store.move_and_delete([], [store.id_of(jpeg)])  # ...and deleted
    vectors = catch_up(store, vectors, DIM)
    assert _row_states(store.folder)[str(raw)] == RowState.INDEXED and vectors.index.ntotal == 3


@pytest.mark.slow
def test_a_raw_and_its_jpeg_are_one_result(tmp_path):
    photos, index = tmp_path / "photos", tmp_path / "index"
    photos.mkdir()
    (photos / "IMG_7.JPG").write_bytes(fresh_picture_jpeg("зелёный", "звезда"))
    (photos / "IMG_8.jpg").write_bytes(fresh_picture_jpeg("синий", "круг"))
    build_index(photos, BuildOptions(index_dir=index, model="demo", device="cpu", workers=1, progress=False))
    # A RAW of the same shot, as its row would be written by the decode stage (RAW decoding is
    # tested in test_raw.py): a twin of IMG_7.JPG.
    store = IndexStore(index)
    vector = store.vector_of(store.id_of(photos / "IMG_7.JPG"))
    raw = photos / "IMG_7.DNG"
    store.write_batch(store.known_root_id(photos), [_image(raw, "h-dng", vector)])
    store.close()
    opened = search.open_index(index, device="cpu")
    hits = opened.search("зелёная звезда", k=5)
    assert [Path(hit.path).name for hit in hits] == ["IMG_7.JPG", "IMG_8.jpg"]
    assert hits[0].also_at == (str(raw),)
    assert verify_index(index).ok
