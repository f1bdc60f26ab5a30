"""The shipped demo model knows colours and shapes: Russian queries find the right fresh pictures."""

from __future__ import annotations

import json

import numpy as np
import pytest

import search
from search.paths import demo_model_dir
from training.captions import COLOURS, SHAPES, all_queries
from training.evaluate import precision_at_k
from training.world import DEFAULT_BACKGROUNDS, labelled_picture, load_backgrounds

from .helpers import indexer

# Pictures no training run ever drew ("test" is not a purpose the trainer uses), saved as JPEG
# files at sizes and aspects the model never trained on, and read back through the file path.
TEST_SEED = 20261125
PER_PAIR = 6


@pytest.fixture(scope="module")
def demo_model() -> search.RuClip:
    return search.load_model("demo", device="cpu")


@pytest.fixture(scope="module")
def fresh_photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fresh")
    photos = load_backgrounds(DEFAULT_BACKGROUNDS)
    paths, labels = [], []
    for index in range(len(COLOURS) * len(SHAPES) * PER_PAIR):
        size = (300, 200) if index % 3 == 0 else (180, 240) if index % 3 == 1 else (256, 256)
        picture = labelled_picture("test", TEST_SEED, index, size, photos)
        path = folder / f"photo_{index:03d}.jpg"
        picture.image.save(path, quality=85)
        paths.append(path)
        labels.append((picture.colour.name, picture.shape.name))
    return paths, labels


@pytest.fixture(scope="module")
def photo_vectors(demo_model, fresh_photos):
    paths, _ = fresh_photos
    return demo_model.encode_images(paths)


def test_demo_name_resolves_to_the_shipped_folder(demo_model):
    assert search.resolve_model("demo") == demo_model_dir()
    assert demo_model.folder == demo_model_dir()
    recipe = json.loads((demo_model_dir() / "training.json").read_text(encoding="utf-8"))["recipe"]
    assert demo_model.config.image_resolution == recipe["image_resolution"]
    assert demo_model.config.embed_dim == recipe["embed_dim"]


def test_colour_and_shape_queries_reach_precision_at_5(demo_model, fresh_photos, photo_vectors):
    _, labels = fresh_photos
    queries = all_queries()
    relevant = np.array([[label == (c.name, s.name) for label in labels] for _, c, s in queries])
    precision = precision_at_k(demo_model.encode_texts([q for q, _, _ in queries]), photo_vectors, relevant, k=5)
    report = {q: round(float(p), 2) for (q, _, _), p in zip(queries, precision, strict=True)}
    assert precision.mean() >= 0.9, report
    assert precision.min() >= 0.6, report


@pytest.mark.parametrize(
    "query, colour, shape",
    [
        ("красный", "красный", None),
        ("синего цвета", "синий", None),
        ("звезда", None, "звезда"),
        ("на картинке треугольник", None, "треугольник"),
        ("круг жёлтого цвета", "жёлтый", "круг"),
        ("желтый круг", "жёлтый", "круг"),  # без «ё», as people type
        ("фото с зелёной звездой", "зелёный", "звезда"),
    ],
)
def test_other_phrasings_find_what_they_say(demo_model, fresh_photos, photo_vectors, query, colour, shape):
    _, labels = fresh_photos
    relevant = np.array([[(colour in (None, c)) and (shape in (None, s)) for c, s in labels]])
    precision = precision_at_k(demo_model.encode_texts([query]), photo_vectors, relevant, k=5)
    assert precision[0] >= 0.8, f"«{query}»: precision@5 {precision[0]:.2f}"


def test_an_example_picture_finds_its_own_kind(demo_model, fresh_photos, photo_vectors):
    _, labels = fresh_photos
    # Image-to-image: each picture's nearest other picture shares its colour and shape.
    similarity = photo_vectors @ photo_vectors.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = similarity.argmax(axis=1)
    agreement = np.mean([labels[i] == labels[j] for i, j in enumerate(nearest)])
    assert agreement >= 0.8


def test_end_to_end_through_the_cli_and_the_python_api(tmp_path, fresh_photos):
    """Fresh JPEGs in nested folders -> `python -m indexer build --model demo` -> queries by the API and the CLI."""
    paths, labels = fresh_photos
    photos, index_dir = tmp_path / "photos", tmp_path / "index"
    label_of = {}
    for i, (path, label) in enumerate(zip(paths, labels, strict=True)):
        target = photos / f"album_{i % 4}" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
        label_of[str(target)] = label

    def cli(*argv: str):
        return indexer(*argv, "--index", index_dir)  # the CLI's main() in this process

    built = cli("build", str(photos), "--model", "demo", "--device", "cpu", "--quiet")
    assert built.returncode == 0, built.stderr
    assert f"indexed {len(paths)}" in built.stdout

    index = search.open_index(index_dir, device="cpu")
    assert len(index) == len(paths)
    precision = {}
    for query, colour, shape in all_queries():
        hits = index.search(query, k=5)
        precision[query] = np.mean([label_of[hit.path] == (colour.name, shape.name) for hit in hits])
    assert np.mean(list(precision.values())) >= 0.9, precision
    assert min(precision.values()) >= 0.6, precision

    found = cli("search", "жёлтая звезда", "-k", "5", "--json", "--device", "cpu")
    assert found.returncode == 0, found.stderr
    hits = [json.loads(line) for line in found.stdout.splitlines()]
    assert sum(label_of[hit["path"]] == ("жёлтый", "звезда") for hit in hits) >= 4

    # The opt-in int8 query encoder finds the same kind of photos (a margin of one for quantisation).
    fast = cli("search", "жёлтая звезда", "-k", "5", "--json", "--device", "cpu", "--text-precision", "int8")
    assert fast.returncode == 0, fast.stderr
    fast_hits = [json.loads(line) for line in fast.stdout.splitlines()]
    assert sum(label_of[hit["path"]] == ("жёлтый", "звезда") for hit in fast_hits) >= 3
