"""A CPU build and a search run the model's ONNX export (search/clip/onnx_model.py): the same vectors
as torch, torch never imported once the export exists, and every way the export can go wrong
falling back to torch or exporting again. Parity with the reference's outputs: test_golden.py."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from search.clip.onnx_files import OnnxFiles

from .helpers import REPO_ROOT, fresh_picture_jpeg, indexer

TOLERANCE = 1e-5
# Runs the CLI's main in a fresh process and says which heavy packages it imported.
MAIN_THEN_MODULES = (
    "import sys, json; from indexer.__main__ import main; code = main(sys.argv[1:]); "
    "print(json.dumps({'code': code, 'torch': 'torch' in sys.modules, 'onnxruntime': 'onnxruntime' in sys.modules}))"
)


def _main_in_a_process(*argv, env_extra: dict[str, str] | None = None) -> tuple[dict, str]:
    import os

    env = {**os.environ, **(env_extra or {})}
    done = subprocess.run(
        [sys.executable, "-c", MAIN_THEN_MODULES, *map(str, argv)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    *printed, facts = done.stdout.strip().splitlines()
    return json.loads(facts), "\n".join(printed)


def _vectors(index) -> dict[str, np.ndarray]:
    with sqlite3.connect(index / "index.sqlite") as db:
        rows = db.execute("SELECT path, vector FROM images WHERE state = 'indexed'").fetchall()
    return {bytes(path).decode().rsplit("/", 1)[-1]: np.frombuffer(blob, dtype=np.float32) for path, blob in rows}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx") / "photos"
    folder.mkdir()
    for colour, shape in (("красный", "звезда"), ("синий", "круг"), ("жёлтый", "квадрат"), ("зелёный", "треугольник")):
        (folder / f"{colour}-{shape}.jpg").write_bytes(fresh_picture_jpeg(colour, shape))
    return folder


@pytest.fixture(scope="module")
def torch_vectors(photos, tmp_path_factory):
    index = tmp_path_factory.mktemp("torch") / "index"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RUPHOTO_NO_ONNX", "1")
        assert indexer("build", photos, "--index", index, "--model", "demo", "--quiet").returncode == 0
    return _vectors(index)


def test_a_cpu_build_exports_once_then_imports_no_torch_and_stores_torchs_vectors(photos, torch_vectors, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert indexer("build", photos, "--index", first, "--model", "demo", "--quiet").returncode == 0
    modules, _ = _main_in_a_process("build", photos, "--index", second, "--model", "demo", "--quiet", "--nice", "0")
    assert modules == {"code": 0, "torch": False, "onnxruntime": True}
    for index in (first, second):
        stored = _vectors(index)
        assert stored.keys() == torch_vectors.keys()
        for name, vector in stored.items():
            assert np.abs(vector - torch_vectors[name]).max() <= TOLERANCE, name


def test_a_command_line_search_imports_no_torch_and_ranks_as_torch_does(photos, tmp_path):
    index = tmp_path / "index"
    assert indexer("build", photos, "--index", index, "--model", "demo", "--quiet").returncode == 0
    query = ["search", "синий круг", "--index", index, "--json", "-k", "4"]
    fast, printed = _main_in_a_process(*query)
    assert fast == {"code": 0, "torch": False, "onnxruntime": True}
    slow, printed_by_torch = _main_in_a_process(*query, env_extra={"RUPHOTO_NO_ONNX": "1"})
    assert slow["torch"] and not slow["onnxruntime"]
    onnx_hits = [json.loads(line) for line in printed.splitlines()]
    torch_hits = [json.loads(line) for line in printed_by_torch.splitlines()]
    assert len(onnx_hits) == 4
    assert [hit["path"] for hit in onnx_hits] == [hit["path"] for hit in torch_hits]
    assert onnx_hits[0]["path"].endswith("синий-круг.jpg")
    assert [hit["score"] for hit in onnx_hits] == pytest.approx([hit["score"] for hit in torch_hits], abs=TOLERANCE)


def test_a_damaged_export_is_made_again_and_an_unwritable_cache_falls_back_to_torch(
    photos, torch_vectors, tmp_path, monkeypatch
):
    from search.clip.folder import file_fingerprint, find_weights
    from search.paths import demo_model_dir

    weights = find_weights(demo_model_dir())
    files = OnnxFiles.for_weights(file_fingerprint(weights), 64)
    assert indexer("build", photos, "--index", tmp_path / "a", "--model", "demo", "--quiet").returncode == 0
    assert files.complete(), "the build left no export where a search looks for it"
    files.image_path.write_bytes(files.image_path.read_bytes()[:100])  # cut short, as a full disk would leave it
    assert indexer("build", photos, "--index", tmp_path / "b", "--model", "demo", "--quiet").returncode == 0
    assert files.complete() and files.image_path.stat().st_size > 100

    not_a_folder = tmp_path / "cache-is-a-file"
    not_a_folder.write_text("")
    monkeypatch.setenv("RUPHOTO_CACHE", str(not_a_folder))
    done = indexer("build", photos, "--index", tmp_path / "c", "--model", "demo", "--quiet")
    assert done.returncode == 0, done.stderr
    for index in (tmp_path / "b", tmp_path / "c"):
        stored = _vectors(index)
        assert stored.keys() == torch_vectors.keys()
        assert max(np.abs(vector - torch_vectors[name]).max() for name, vector in stored.items()) <= TOLERANCE


def test_an_int8_build_runs_the_quantized_image_tower_without_torch_near_fp32_and_remakes_a_damaged_one(
    photos, torch_vectors, tmp_path
):
    from search.clip.folder import file_fingerprint, find_weights
    from search.paths import demo_model_dir

    files = OnnxFiles.for_weights(file_fingerprint(find_weights(demo_model_dir())), 64)
    int8 = ["--model", "demo", "--quiet", "--precision", "int8"]
    first_build = indexer("build", photos, "--index", tmp_path / "first", *int8)  # quantizes (exports if need be)
    assert first_build.returncode == 0, first_build.stderr
    assert "preparing the model" in first_build.stderr  # the one-time pause is said, not silent
    assert files.image_int8_path.is_file()
    modules, _ = _main_in_a_process("build", photos, "--index", tmp_path / "second", *int8, "--nice", "0")
    assert modules == {"code": 0, "torch": False, "onnxruntime": True}
    first, second = _vectors(tmp_path / "first"), _vectors(tmp_path / "second")
    assert first.keys() == torch_vectors.keys()
    for name, vector in first.items():
        exact = torch_vectors[name]
        assert np.abs(vector - exact).max() > TOLERANCE, f"{name}: int8 gave the fp32 vector (not quantized?)"
        assert float(vector @ exact) >= 0.999, name
        assert np.abs(vector - second[name]).max() <= TOLERANCE

    files.image_int8_path.write_bytes(files.image_int8_path.read_bytes()[:100])  # cut short by a full disk
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    abandoned = files.folder / f".{files.image_int8_path.name}.{gone.stdout.strip()}.tmp"  # a killed build's
    abandoned.write_bytes(b"half a model")
    assert indexer("build", photos, "--index", tmp_path / "third", *int8).returncode == 0
    assert files.image_int8_path.stat().st_size > 100
    assert not abandoned.exists()
    for name, vector in _vectors(tmp_path / "third").items():
        assert np.abs(vector - first[name]).max() <= TOLERANCE, name
