"""`python -m search evaluate` on generated photos with the demo model: every figure is checked
against one this test computes itself from vectors it encodes through the public API (load_model,
encode_images, encode_texts) and, for the probe, scikit-learn fitted here."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import search
from search.__main__ import main
from search.classify.features import encode_image_files
from search.classify.probe import LinearProbe, fit_probe
from search.classify.zeroshot import build_classifier
from search.evaluate.data import read_templates

from .helpers import in_this_process

REPO_CLASSES = Path(__file__).resolve().parent.parent / "search" / "evaluate" / "classes"
PICTURES = 64  # 8 colours × 4 shapes × 2: 8 photos of each colour, 2 of each colour-shape pair
SIZE = (128, 96)


@dataclass(frozen=True)
class Generated:
    colours: Path  # DIR/<colour>/*.jpg, the zero-shot and few-shot set
    captions: Path  # captions.jsonl: one photo of each colour-shape pair, two captions each
    train: Path  # DIR/<colour>/*.jpg, two photos of each colour that `colours` does not hold
    files: list[Path]  # colours' photos in the command's order (sorted class folders, sorted names)
    labels: np.ndarray  # their colour's index among the sorted class folders
    caption_files: list[Path]
    caption_texts: list[str]
    caption_image: np.ndarray


def _captions_of(colour, shape) -> list[str]:
    adjective = colour.feminine if shape.feminine else colour.name
    return [f"{adjective} {shape.name}", f"{shape.name} {colour.genitive} цвета"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Generated:
    from training.world import labelled_pictures

    root = tmp_path_factory.mktemp("evaluate")
    pictures = labelled_pictures("evaluate-test", 5, PICTURES + 16, SIZE)
    lines, caption_files, texts, owner = [], [], [], []
    for number, picture in enumerate(pictures):
        split = "colours" if number < PICTURES else "train"
        folder = root / split / picture.colour.name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{number:03d}.jpg"
        picture.image.save(path, "JPEG", quality=90)
        if number < 32:  # the first 32 are one photo of each of the 32 pairs
            captions = _captions_of(picture.colour, picture.shape)
            lines.append(json.dumps({"image": f"colours/{picture.colour.name}/{path.name}", "captions": captions}))
            texts += captions
            owner += [len(caption_files)] * len(captions)
            caption_files.append(path)
    (root / "captions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    classes = sorted(p.name for p in (root / "colours").iterdir())
    files = [f for name in classes for f in sorted((root / "colours" / name).iterdir())]
    labels = np.array([classes.index(f.parent.name) for f in files])
    return Generated(
        root / "colours", root / "captions.jsonl", root / "train", files, labels, caption_files, texts, np.array(owner)
    )


@pytest.fixture(scope="module")
def demo() -> search.RuClip:
    return search.load_model("demo", device="cpu")


def evaluate(*argv: str | Path) -> tuple[int, str, str]:
    run = in_this_process(main, ["evaluate", *map(str, argv)])
    return run.returncode, run.stdout, run.stderr


def evaluate_json(*argv: str | Path) -> dict:
    code, out, err = evaluate(*argv, "--json", "--model", "demo", "--device", "cpu")
    assert code == 0, err
    return json.loads(out)


# ---- zero-shot ----------------------------------------------------------------------------------


def _class_vectors(model, names: list[list[str]], templates: list[str]) -> np.ndarray:
    """Each class's prompts (every phrasing in every template) encoded one by one, averaged, normalised."""
    classes = []
    for phrasings in names:
        prompts = [t.replace("{}", p) for p in phrasings for t in templates]
        mean = np.mean([model.encode_texts([prompt])[0] for prompt in prompts], axis=0)
        classes.append(mean / np.linalg.norm(mean))
    return np.array(classes)


def _expected_zeroshot(model, images: np.ndarray, labels: np.ndarray, names: list[list[str]], templates: list[str]):
    scores = images @ _class_vectors(model, names, templates).T
    ranked = np.argsort(-scores, axis=1)
    top1 = float(np.mean(ranked[:, 0] == labels))
    top5 = float(np.mean([label in row[:5] for label, row in zip(labels, ranked, strict=True)]))
    per_class = float(np.mean([np.mean(ranked[labels == c, 0] == c) for c in np.unique(labels)]))
    return top1, top5, per_class


def test_zeroshot_figures_are_those_of_the_classes_prompts(generated, demo, tmp_path):
    images = demo.encode_images(generated.files)  # exact decoding, the public encoder
    classes = sorted(p.name for p in generated.colours.iterdir())
    templates = read_templates(None)

    result = evaluate_json("zeroshot", "--dataset", generated.colours, "--exact-decoding", "--cache", tmp_path)
    top1, top5, per_class = _expected_zeroshot(demo, images, generated.labels, [[c] for c in classes], templates)
    assert (result["images"], result["classes"]) == (PICTURES, 8)
    assert result["top1"] == pytest.approx(top1, abs=1e-9)
    assert result["top5"] == pytest.approx(top5, abs=1e-9)
    assert result["mean_per_class_recall"] == pytest.approx(per_class, abs=1e-9)
    assert top1 > 0.8  # the demo model knows its colours: a figure that can fail if the prompts were wrong

    # A class-name file with two phrasings per class and one template of our own; without ensembling
    # only the first phrasing in the first template counts.
    names = {c: [c, c + " цвет"] for c in classes}
    (tmp_path / "names.json").write_text(json.dumps(names, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "templates.txt").write_text("# ours\nфото: {}\n{} на картинке\n", encoding="utf-8")
    options = ("--classes", tmp_path / "names.json", "--templates", tmp_path / "templates.txt")
    ensembled = evaluate_json("zeroshot", "--dataset", generated.colours, "--exact-decoding", *options)
    expected = _expected_zeroshot(
        demo, images, generated.labels, [names[c] for c in classes], ["фото: {}", "{} на картинке"]
    )
    assert ensembled["top1"] == pytest.approx(expected[0], abs=1e-9)
    assert ensembled["options"]["prompts_per_class"] == 4
    single = evaluate_json("zeroshot", "--dataset", generated.colours, "--exact-decoding", "--no-ensemble", *options)
    expected = _expected_zeroshot(demo, images, generated.labels, [[c] for c in classes], ["фото: {}"])
    assert single["top1"] == pytest.approx(expected[0], abs=1e-9)
    assert single["options"]["prompts_per_class"] == 1


def test_the_classifier_averages_every_prompt_of_a_class(demo):
    names = [["красный", "алый"], ["синий"], ["белый", "светлый", "снежный"]]
    templates = ["фото: {}", "{} на картинке", "это {}"]
    ensembled = build_classifier(demo, names, templates)
    np.testing.assert_allclose(ensembled.vectors, _class_vectors(demo, names, templates), atol=2e-6)
    single = build_classifier(demo, names, templates, ensemble=False)
    np.testing.assert_allclose(single.vectors, _class_vectors(demo, [n[:1] for n in names], templates[:1]), atol=2e-6)
    assert ensembled.names == ("красный", "синий", "белый")


def test_the_table_has_the_seeds_layout(generated, tmp_path):
    code, out, err = evaluate("zeroshot", "--model", "demo", "--dataset", generated.colours, "--cache", tmp_path)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[2].split("|")[1:3] == [" data set, metric               ", "  demo "]
    assert lines[-1] == f"Image vectors: 0 from the cache, {PICTURES} encoded (kept in {tmp_path})."
    assert [line.split("|")[1].strip() for line in lines[4:-1]] == [
        "colours, top-1 accuracy",
        "colours, top-5 accuracy",
        "colours, mean per-class recall",
    ]


# ---- few-shot -----------------------------------------------------------------------------------


def test_fewshot_is_the_probe_scikit_learn_fits_on_the_examples(generated, demo, tmp_path):
    from sklearn.linear_model import LogisticRegression

    # --train holds exactly 2 photos per class: every seed draws the same examples, so the probe is
    # the one fitted here on them, with the same C.
    result = evaluate_json(
        "fewshot", "--dataset", generated.colours, "--train", generated.train, "--shots", "2", "--seeds", "2",
        "--c", "10", "--exact-decoding", "--cache", tmp_path,
    )  # fmt: skip
    classes = sorted(p.name for p in generated.train.iterdir())
    train_files = [f for name in classes for f in sorted((generated.train / name).iterdir())]
    train_labels = np.array([classes.index(f.parent.name) for f in train_files])
    probe = LogisticRegression(C=10.0, max_iter=1000).fit(demo.encode_images(train_files), train_labels)
    expected = float(np.mean(probe.predict(demo.encode_images(generated.files)) == generated.labels))
    row = result["shots"]["2"]
    assert row["per_seed"] == pytest.approx([expected, expected], abs=1e-9)
    assert row["std"] == 0 and row["c"] == [10.0, 10.0]


def test_fewshot_draws_its_examples_from_the_data_set_when_no_train_folder_is_given(generated, tmp_path):
    result = evaluate_json(
        "fewshot", "--dataset", generated.colours, "--shots", "1,4", "--seeds", "3", "--cache", tmp_path
    )
    assert set(result["shots"]) == {"1", "4"}
    one, four = result["shots"]["1"], result["shots"]["4"]
    assert len(one["per_seed"]) == 3 and all(0 <= a <= 1 for a in one["per_seed"])
    assert one["std"] == pytest.approx(float(np.std(one["per_seed"])))
    assert four["mean"] > 0.8  # four examples of a colour the demo model separates well
    assert all(c in (0.1, 1.0, 10.0, 100.0, 1000.0) for c in four["c"])  # chosen on a validation split


def test_the_probe_applies_with_numpy_as_scikit_learn_predicts():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    for classes in (2, 3):
        centres = rng.normal(size=(classes, 16))
        labels = np.repeat(np.arange(classes), 12)
        vectors = (centres[labels] + rng.normal(scale=0.8, size=(len(labels), 16))).astype(np.float32)
        probe = fit_probe(vectors, labels, c=1.0)
        reference = LogisticRegression(C=1.0, max_iter=1000).fit(vectors, labels)
        assert isinstance(probe, LinearProbe) and probe.scores(vectors).shape == (len(labels), classes)
        assert (probe.predict(vectors) == reference.predict(vectors)).all()
        assert fit_probe(vectors, labels).c in (0.1, 1.0, 10.0, 100.0, 1000.0)
    one_each = fit_probe(vectors[[0, 12, 24]], labels[[0, 12, 24]])  # no validation split possible
    assert one_each.c == 10.0


# ---- retrieval ----------------------------------------------------------------------------------


def test_retrieval_recall_is_counted_as_the_clip_paper_does(generated, demo, tmp_path):
    result = evaluate_json("retrieval", "--captions", generated.captions, "--exact-decoding", "--cache", tmp_path)
    images = demo.encode_images(generated.caption_files)
    texts = demo.encode_texts(generated.caption_texts)
    similarity = texts @ images.T  # (T, I)
    for k in (1, 5, 10):
        # A caption is found if its image is among its k best images; an image if any of its captions
        # is among its k best captions.
        text_found = [generated.caption_image[t] in np.argsort(-similarity[t])[:k] for t in range(len(texts))]
        image_found = [
            bool(set(np.argsort(-similarity[:, i])[:k]) & set(np.flatnonzero(generated.caption_image == i)))
            for i in range(len(images))
        ]
        assert result["text_to_image"][f"R@{k}"] == pytest.approx(np.mean(text_found), abs=1e-9)
        assert result["image_to_text"][f"R@{k}"] == pytest.approx(np.mean(image_found), abs=1e-9)
    assert (result["images"], result["captions"]) == (32, 64)
    assert result["text_to_image"]["R@10"] > 0.5  # the demo model's own kind of caption


# ---- the feature cache --------------------------------------------------------------------------


def test_a_partial_cache_is_resumed_and_only_the_missing_chunks_are_encoded(generated, demo, tmp_path):
    files = generated.files
    first = encode_image_files(demo, files, cache_root=tmp_path, label="colours", chunk_images=16, progress=False)
    assert (first.from_cache, first.encoded) == (0, PICTURES)
    chunks = sorted(first.cache_folder.glob("chunk-*.npy"))
    assert len(chunks) == PICTURES // 16

    # As a Ctrl-C leaves it: the last chunks never written, or one cut short while it was written.
    chunks[3].unlink()
    chunks[2].write_bytes(chunks[2].read_bytes()[:100])
    again = encode_image_files(demo, files, cache_root=tmp_path, label="colours", chunk_images=16, progress=False)
    assert (again.from_cache, again.encoded) == (32, 32)
    np.testing.assert_array_equal(again.vectors, first.vectors)
    assert again.cache_folder == first.cache_folder

    # The key: another decoding, another precision or a changed file gets its own folder.
    exact = encode_image_files(demo, files, cache_root=tmp_path, label="colours", fast_jpeg=False, progress=False)
    assert exact.cache_folder != first.cache_folder and exact.encoded == PICTURES
    int8 = search.load_model("demo", device="cpu", precision="int8")
    quantised = encode_image_files(int8, files[:8], cache_root=tmp_path, label="colours", progress=False)
    plain = encode_image_files(demo, files[:8], cache_root=tmp_path, label="colours", progress=False)
    assert quantised.cache_folder != plain.cache_folder


def test_a_second_run_of_the_command_reads_the_cache(generated, tmp_path):
    first = evaluate_json("zeroshot", "--dataset", generated.colours, "--cache", tmp_path)
    (folder,) = tmp_path.iterdir()
    stamps = {p: p.stat().st_mtime_ns for p in folder.glob("chunk-*.npy")}
    assert stamps
    second = evaluate_json("zeroshot", "--dataset", generated.colours, "--cache", tmp_path)
    assert first["vectors"] == {"from_cache": 0, "encoded": PICTURES}
    assert second["vectors"] == {"from_cache": PICTURES, "encoded": 0}
    assert {**second, "vectors": None} == {**first, "vectors": None}
    assert {p: p.stat().st_mtime_ns for p in folder.glob("chunk-*.npy")} == stamps  # read, not written again


# ---- bad inputs: one line naming the file and the fix, exit 2 -----------------------------------


def _one_error_line(argv, *expected: str) -> None:
    code, out, err = evaluate(*argv)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for part in expected:
        assert part in lines[0], lines[0]


def test_bad_inputs_are_one_line_each(generated, tmp_path):
    demo = ("--model", "demo", "--device", "cpu", "--cache", tmp_path / "cache")
    _one_error_line(["zeroshot", "--dataset", tmp_path / "nowhere", *demo], str(tmp_path / "nowhere"), "no such folder")

    sets = tmp_path / "sets"
    shutil.copytree(generated.colours, sets / "colours")
    (sets / "colours" / "пустой").mkdir()
    _one_error_line(["zeroshot", "--dataset", sets / "colours", *demo], "пустой", "no images", "remove the folder")
    (sets / "colours" / "пустой" / "сломанный.jpg").write_bytes(b"not a JPEG")
    _one_error_line(["zeroshot", "--dataset", sets / "colours", *demo], "сломанный.jpg", "Replace or remove")
    (sets / "flat").mkdir()
    (sets / "flat" / "a.jpg").write_bytes(generated.files[0].read_bytes())
    _one_error_line(["zeroshot", "--dataset", sets / "flat", *demo], "no class folders", "<class>")

    names = tmp_path / "names.json"
    names.write_text('{"красный": "красный"}', encoding="utf-8")
    _one_error_line(["zeroshot", "--dataset", generated.colours, "--classes", names, *demo], str(names), "белый")
    names.write_text("{not json", encoding="utf-8")
    _one_error_line(["zeroshot", "--dataset", generated.colours, "--classes", names, *demo], str(names), "JSON")
    templates = tmp_path / "templates.txt"
    templates.write_text("фото: {}\nфото без места для имени\n", encoding="utf-8")
    _one_error_line(
        ["zeroshot", "--dataset", generated.colours, "--templates", templates, *demo], f"{templates}:2", "{}"
    )

    captions = tmp_path / "captions.jsonl"
    captions.write_text(
        generated.captions.read_text(encoding="utf-8").splitlines()[0]
        + '\n{"image": "colours/нет/такого.jpg", "captions": ["красный круг"]}\n',
        encoding="utf-8",
    )
    shutil.copytree(generated.colours, tmp_path / "colours")
    _one_error_line(["retrieval", "--captions", captions, *demo], f"{captions}:2", "colours/нет/такого.jpg")
    captions.write_text('{"image": "colours/x.jpg"}\n', encoding="utf-8")
    _one_error_line(["retrieval", "--captions", captions, *demo], f"{captions}:1", '"captions"')

    _one_error_line(
        ["fewshot", "--dataset", generated.colours, "--shots", "8", *demo], "8 images", "fewer than 9", "--shots"
    )
    assert not list((tmp_path / "cache").rglob("chunk-*"))  # no chunk was finished: none written


def test_a_model_that_cannot_load_is_one_line_and_leaves_nothing(generated, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # nothing downloaded
    cache = tmp_path / "cache"
    data = ("--dataset", generated.colours, "--cache", cache)
    _one_error_line(["zeroshot", "--model", tmp_path / "no-model", *data], str(tmp_path / "no-model"))
    # A published model on a machine that has not downloaded it: the weights are needed, said in one
    # line with the command that fetches them.
    _one_error_line(
        ["zeroshot", "--model", "ruclip-vit-base-patch32-384", *data], "ruclip-vit-base-patch32-384", "download"
    )
    assert not cache.exists()

    cache.write_text("a file where the cache folder should be")
    _one_error_line(["zeroshot", "--model", "demo", *data], f"Feature cache {cache}", "--no-cache")


def test_fewshot_without_scikit_learn_says_how_to_install_it(generated, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if it were not installed: its import fails
    monkeypatch.setitem(sys.modules, "sklearn.linear_model", None)
    _one_error_line(
        ["fewshot", "--model", "demo", "--dataset", generated.colours, "--cache", tmp_path],
        "scikit-learn",
        "pip install 'scikit-learn>=1.5'",
    )


# ---- prepare: the binary releases -> image folders ------------------------------------------------


def test_prepare_writes_the_releases_pictures_into_class_folders(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    cifar = tmp_path / "cifar-10-batches-bin"
    cifar.mkdir()
    (cifar / "batches.meta.txt").write_text("airplane\nautomobile\nbird\n\n", encoding="utf-8")
    pictures = rng.integers(0, 256, size=(6, 32, 32, 3), dtype=np.uint8)
    labels = [2, 0, 1, 1, 2, 0]
    for number, name in enumerate([*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin"]):
        # One record: its label byte, then the red, green and blue planes, rows of 32.
        record = bytes([labels[number]]) + pictures[number].transpose(2, 0, 1).tobytes()
        (cifar / name).write_bytes(record)
    code, out, err = evaluate("prepare", "cifar10", cifar, tmp_path / "cifar10")
    assert code == 0, err
    assert "train 5 images, test 1 images" in out
    test_image = tmp_path / "cifar10" / "test" / "airplane" / "00000.png"
    np.testing.assert_array_equal(np.asarray(Image.open(test_image)), pictures[5])
    train = sorted(
        p.relative_to(tmp_path / "cifar10" / "train").as_posix()
        for p in (tmp_path / "cifar10" / "train").rglob("*.png")
    )
    assert train == [
        "airplane/00001.png",
        "automobile/00002.png",
        "automobile/00003.png",
        "bird/00000.png",
        "bird/00004.png",
    ]

    stl = tmp_path / "stl10_binary"
    stl.mkdir()
    (stl / "class_names.txt").write_text("airplane\nbird\n", encoding="utf-8")
    photos = rng.integers(0, 256, size=(2, 96, 96, 3), dtype=np.uint8)
    for split in ("train", "test"):
        # Column-major per channel, as the release stores them: (N, 3, W, H).
        (stl / f"{split}_X.bin").write_bytes(photos.transpose(0, 3, 2, 1).tobytes())
        (stl / f"{split}_y.bin").write_bytes(bytes([2, 1]))
    code, out, err = evaluate("prepare", "stl10", stl, tmp_path / "stl10")
    assert code == 0, err
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "stl10" / "test" / "bird" / "00000.png")), photos[0])
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "stl10" / "test" / "airplane" / "00001.png")), photos[1]
    )

    (stl / "test_y.bin").unlink()
    _one_error_line(["prepare", "stl10", stl, tmp_path / "again"], f"{stl}: no test_y.bin", "extract")
    assert not (tmp_path / "again").exists()


def test_prepare_links_the_listed_images_of_pets_and_dtd_into_class_folders(generated, tmp_path):
    jpeg = generated.files[0].read_bytes()
    pets = tmp_path / "pets"
    (pets / "images").mkdir(parents=True)
    (pets / "annotations").mkdir()
    for name in ("Abyssinian_1", "Abyssinian_2", "great_pyrenees_7"):
        (pets / "images" / f"{name}.jpg").write_bytes(jpeg)
    (pets / "annotations" / "trainval.txt").write_text("Abyssinian_1 1 1 1\ngreat_pyrenees_7 22 2 12\n")
    (pets / "annotations" / "test.txt").write_text("Abyssinian_2 1 1 1\n")
    code, out, err = evaluate("prepare", "pets", pets, tmp_path / "pets-folders")
    assert code == 0, err
    found = sorted(
        p.relative_to(tmp_path / "pets-folders").as_posix() for p in (tmp_path / "pets-folders").rglob("*.jpg")
    )
    assert found == [
        "test/Abyssinian/Abyssinian_2.jpg",
        "train/Abyssinian/Abyssinian_1.jpg",
        "train/great_pyrenees/great_pyrenees_7.jpg",
    ]
    assert set(json.loads((REPO_CLASSES / "pets.json").read_text(encoding="utf-8"))) >= {"Abyssinian", "great_pyrenees"}

    dtd = tmp_path / "dtd"
    for name in ("banded/banded_0001.jpg", "banded/banded_0002.jpg", "zigzagged/zigzagged_0003.jpg"):
        (dtd / "images" / name).parent.mkdir(parents=True, exist_ok=True)
        (dtd / "images" / name).write_bytes(jpeg)
    (dtd / "labels").mkdir()
    (dtd / "labels" / "train1.txt").write_text("banded/banded_0001.jpg\n")
    (dtd / "labels" / "val1.txt").write_text("zigzagged/zigzagged_0003.jpg\n")
    (dtd / "labels" / "test1.txt").write_text("banded/banded_0002.jpg\nzigzagged/zigzagged_0004.jpg\n")
    _one_error_line(["prepare", "dtd", dtd, tmp_path / "dtd-folders"], "test1.txt lists", "zigzagged_0004.jpg")
    assert not (tmp_path / "dtd-folders").exists()
    (dtd / "labels" / "test1.txt").write_text("banded/banded_0002.jpg\n")
    code, out, err = evaluate("prepare", "dtd", dtd, tmp_path / "dtd-folders")
    assert code == 0 and "train 2 images, test 1 images" in out, err
    assert (tmp_path / "dtd-folders" / "train" / "zigzagged" / "zigzagged_0003.jpg").read_bytes() == jpeg

    food = tmp_path / "food-101"
    (food / "images" / "apple_pie").mkdir(parents=True)
    (food / "images" / "apple_pie" / "1005649.jpg").write_bytes(jpeg)
    (food / "meta").mkdir()
    (food / "meta" / "train.txt").write_text("")
    (food / "meta" / "test.txt").write_text("apple_pie/1005649\n")
    code, out, err = evaluate("prepare", "food101", food, tmp_path / "food-folders")
    assert code == 0, err
    assert (tmp_path / "food-folders" / "test" / "apple_pie" / "1005649.jpg").read_bytes() == jpeg

    from scipy.io import savemat

    flowers = tmp_path / "flowers"
    (flowers / "jpg").mkdir(parents=True)
    for image_id in (1, 2, 3):
        (flowers / "jpg" / f"image_{image_id:05d}.jpg").write_bytes(jpeg)
    savemat(flowers / "imagelabels.mat", {"labels": np.array([[1, 102, 1]])})  # images 1-3: labels 1, 102, 1
    savemat(flowers / "setid.mat", {"trnid": np.array([[1]]), "valid": np.array([[2]]), "tstid": np.array([[3]])})
    code, out, err = evaluate("prepare", "flowers102", flowers, tmp_path / "flower-folders")
    assert code == 0, err
    found = sorted(
        p.relative_to(tmp_path / "flower-folders").as_posix() for p in (tmp_path / "flower-folders").rglob("*.jpg")
    )
    # Label 1 is the first name of classes/flowers102.json, 102 its last (the release's order).
    assert found == [
        "test/pink primrose/image_00003.jpg",
        "train/blackberry lily/image_00002.jpg",
        "train/pink primrose/image_00001.jpg",
    ]


def test_every_packaged_class_name_and_template_file_reads():
    from search.evaluate.data import CLASSES_DIR, TEMPLATES_DIR, read_class_names

    expected = {
        **{"cifar10": 10, "cifar100": 100, "stl10": 10, "pets": 37, "dtd": 47, "food101": 101, "flowers102": 102},
        "imagenet": 1000,
    }
    assert sorted(expected) == sorted(p.stem for p in CLASSES_DIR.glob("*.json"))  # a new file is checked here too
    for name, count in expected.items():
        folders = tuple(json.loads((CLASSES_DIR / f"{name}.json").read_text(encoding="utf-8")))
        phrasings = read_class_names(name, folders)
        assert len(phrasings) == count and all(p and all(s.strip() for s in p) for p in phrasings)
    for path in TEMPLATES_DIR.glob("*.txt"):
        assert len(read_templates(path.stem)) >= 5, path


def test_the_imagenet_class_file_names_its_1000_wnids_in_class_index_order():
    import re

    text = (REPO_CLASSES / "imagenet.json").read_text(encoding="utf-8")
    mapping = json.loads(text)
    wnids = list(mapping)
    assert len(wnids) == 1000 and all(re.fullmatch(r"n\d{8}", w) for w in wnids)
    assert wnids == sorted(wnids)  # torchvision's ImageFolder over the wnid folders: the class indices
    assert (wnids[0], wnids[1], wnids[-1]) == ("n01440764", "n01443537", "n15075141")  # tench, goldfish, toilet tissue
    assert len(text.splitlines()) == 1002  # one class a line
    phrasings = [[v] if isinstance(v, str) else v for v in mapping.values()]
    assert all(1 <= len(p) <= 3 and all(re.search("[а-яё]", s, re.IGNORECASE) for s in p) for p in phrasings)
    first = [p[0].lower() for p in phrasings]
    assert len(set(first)) == 1000, sorted(n for n in first if first.count(n) > 1)
    every = [s.lower() for p in phrasings for s in p]
    assert len(set(every)) == len(every), sorted({n for n in every if every.count(n) > 1})
    # ImageNet's two «crane» and two «maillot» classes are told apart.
    assert mapping["n02012849"][0] != mapping["n03126707"][0]
    assert mapping["n03710637"][0] != mapping["n03710721"][0]


def test_a_subset_of_imagenets_wnid_folders_reads_the_packaged_file(generated, demo, tmp_path):
    """A class-name file may name more classes than the folder holds: two wnid folders, 1000 names."""
    from search.evaluate.data import read_class_names

    colours = sorted(p.name for p in generated.colours.iterdir())[:2]
    wnids = ["n01440764", "n01443537"]  # линь, золотая рыбка
    subset = tmp_path / "imagenet-val"
    for colour, wnid in zip(colours, wnids, strict=True):
        shutil.copytree(generated.colours / colour, subset / wnid)
    files = [f for wnid in wnids for f in sorted((subset / wnid).iterdir())]
    labels = np.array([wnids.index(f.parent.name) for f in files])

    names = read_class_names("imagenet", tuple(wnids))
    assert names == [["линь"], ["золотая рыбка"]]
    templates = read_templates("imagenet")
    options = ("--classes", "imagenet", "--templates", "imagenet", "--exact-decoding", "--cache", tmp_path / "cache")
    result = evaluate_json("zeroshot", "--dataset", subset, *options)
    expected = _expected_zeroshot(demo, demo.encode_images(files), labels, names, templates)
    assert (result["images"], result["classes"]) == (len(files), 2)
    assert result["top1"] == pytest.approx(expected[0], abs=1e-9)
    assert result["options"]["prompts_per_class"] == len(templates)

    (subset / "n99999999").mkdir()  # a folder ImageNet has no name for is still one line naming it
    shutil.copy(files[0], subset / "n99999999" / files[0].name)
    _one_error_line(["zeroshot", "--dataset", subset, *options, "--model", "demo", "--device", "cpu"], "n99999999")


def test_a_run_stopped_by_ctrl_c_resumes_where_it_stopped(generated, tmp_path):
    import signal
    import subprocess
    import time

    from PIL import Image

    from .helpers import REPO_ROOT

    # 64 large JPEGs decoded exactly on one thread: seconds of work, stopped after its second chunk.
    big = tmp_path / "big"
    (big / "a").mkdir(parents=True)
    (big / "b").mkdir()
    Image.open(generated.files[0]).resize((2400, 1800)).save(tmp_path / "big.jpg", quality=90)
    for number in range(64):
        shutil.copyfile(tmp_path / "big.jpg", big / "ab"[number % 2] / f"{number:02d}.jpg")
    cache = tmp_path / "cache"
    argv = ["zeroshot", "--dataset", big, "--cache", cache, "--exact-decoding", "--workers", "1"]
    argv += ["--batch-size", "4", "--chunk-images", "4"]
    process = subprocess.Popen(
        [sys.executable, "-m", "search", "evaluate", *map(str, argv), "--model", "demo", "--device", "cpu"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal's Ctrl-C reaches it
    )
    deadline = time.monotonic() + 60
    while len(list(cache.glob("*/chunk-*.npy"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130 and err.strip() == "interrupted", (out, err)
    kept = 4 * len(list(cache.glob("*/chunk-*.npy")))
    assert 8 <= kept < 64
    assert not list(cache.glob("*/*.part"))  # no chunk left half-written

    result = evaluate_json(*argv)
    assert result["vectors"] == {"from_cache": kept, "encoded": 64 - kept}
