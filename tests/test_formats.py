"""Every format Pillow opens is looked for (its own registry, minus what is not a photo), the set is
cached so that an unchanged re-run imports no Pillow, content decides over the suffix, the scan
counts what it skipped, and Pillow's own test corpus is indexed."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from indexer.scan import scan_folder
from search.constants import RAW_SUFFIXES
from search.errors import ImageProblem
from search.images import Decoded, decode_one, image_suffixes, load_image, register_optional_formats

from .corpus import CorpusUnavailable, pillow_test_images
from .helpers import REPO_ROOT, indexer

# The rule, written out again from the README: Pillow's openable formats, minus these.
LEFT_OUT = {"EPS", "WMF", "BUFR", "GRIB", "HDF5", "MPEG"}
DEMO_PHOTOS = REPO_ROOT / "data" / "demo" / "photos" / "2023 лето"


def expected_suffixes() -> set[str]:
    register_optional_formats()
    Image.init()
    formats = set(Image.OPEN) | {"MPO"}  # MPO: Pillow's JPEG opener opens it
    found = {s for s, name in Image.registered_extensions().items() if name in formats and name not in LEFT_OUT}
    return found | set(RAW_SUFFIXES)


def test_the_suffixes_are_pillows_registry_less_what_is_not_a_photo(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = image_suffixes()  # computed, then cached
    assert first == expected_suffixes()
    assert image_suffixes() == first  # read back from the cache
    # The formats the issue found skipped are there; vector, document and data formats are not.
    assert {".mpo", ".jp2", ".j2k", ".jpf", ".psd", ".tga", ".ppm", ".pgm", ".pnm", ".qoi", ".dds", ".ico"} <= first
    assert {".heic", ".avif", ".jpg", ".png", ".webp", ".tif", ".gif", ".bmp"} <= first
    assert not {".eps", ".ps", ".pdf", ".wmf", ".emf", ".bufr", ".grib", ".h5", ".mpeg", ".txt"} & first


def _suffixes_in_a_fresh_python(cache: Path) -> tuple[list[str], bool]:
    code = "import sys; from search.images import image_suffixes; print(sorted(image_suffixes())); "
    code += "print('PIL' in sys.modules)"
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    env.pop("RUPHOTO_CACHE", None)  # the suite's own cache folder (conftest.py) would win over XDG_CACHE_HOME
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, env=env)
    assert run.returncode == 0, run.stderr
    suffixes, pillow = run.stdout.splitlines()
    return eval(suffixes), pillow == "True"  # noqa: S307 - our own print of a list of str


def test_the_cached_set_is_read_without_importing_pillow(tmp_path: Path):
    computed, pillow_first = _suffixes_in_a_fresh_python(tmp_path)
    cached, pillow_then = _suffixes_in_a_fresh_python(tmp_path)
    assert pillow_first and not pillow_then  # computed once with Pillow, then read without it
    assert cached == computed
    # A damaged cache file is recomputed, not trusted.
    (cache_file,) = (tmp_path / "ruphoto-search").glob("image-suffixes-*.json")
    cache_file.write_text("{not json", encoding="utf-8")
    again, pillow_again = _suffixes_in_a_fresh_python(tmp_path)
    assert again == computed and pillow_again
    assert json.loads(cache_file.read_text(encoding="utf-8"))  # and written again


def test_the_scan_counts_the_files_it_skipped_by_suffix(tmp_path: Path):
    for name in ("a.txt", "b.TXT", "c.txt", "notes.pdf", "README", "Makefile", "photo.jpg", ".hidden.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "album").mkdir()
    (tmp_path / "album" / "d.xmp").write_bytes(b"x")
    result = scan_folder(tmp_path, {".jpg"})
    assert [Path(f.path).name for f in result.files] == ["photo.jpg"]
    assert result.skipped_by_suffix == Counter({".txt": 3, "(no suffix)": 2, ".pdf": 1, ".xmp": 1})
    assert result.skipped_line() == "skipped 7 files that are not images: 3 × .txt, 2 × (no suffix), 1 × .pdf, 1 × .xmp"
    assert result.skipped_line(shown=2) == "skipped 7 files that are not images: 3 × .txt, 2 × (no suffix), 2 others"
    assert scan_folder(tmp_path / "album", {".xmp"}).skipped_line() is None


@pytest.fixture
def mislabelled(tmp_path: Path) -> dict[str, Path]:
    """A PNG named .jpg and a JPEG named .png, with correctly named twins elsewhere."""
    sources = sorted(DEMO_PHOTOS.glob("*.jpg"))[:2]
    correct, wrong = tmp_path / "correct", tmp_path / "photos"
    correct.mkdir(), wrong.mkdir()
    png = Image.open(sources[0]).convert("RGB").resize((400, 300))
    png.save(correct / "a.png")
    png.save(wrong / "a_png.jpg", format="PNG")
    big_jpeg = Image.open(sources[1]).convert("RGB").resize((1600, 1200))  # big enough for the JPEG draft
    big_jpeg.save(correct / "b.jpg", quality=90)
    big_jpeg.save(wrong / "b_jpeg.png", format="JPEG", quality=90)
    return {
        "png": correct / "a.png",
        "png as jpg": wrong / "a_png.jpg",
        "jpg": correct / "b.jpg",
        "jpg as png": wrong / "b_jpeg.png",
    }


def test_a_files_content_decides_its_format_not_its_suffix(mislabelled: dict[str, Path]):
    # The JPEG named .png is drafted (DCT-scaled) as only a JPEG can be; the PNG named .jpg is not.
    assert load_image(mislabelled["jpg as png"], draft_short_side=224).size == (400, 300)
    assert load_image(mislabelled["png as jpg"], draft_short_side=224).size == (400, 300)
    assert load_image(mislabelled["jpg as png"]).size == (1600, 1200)
    for right, wrong in (("png", "png as jpg"), ("jpg", "jpg as png")):
        expected, got = decode_one(str(mislabelled[right]), 224), decode_one(str(mislabelled[wrong]), 224)
        assert isinstance(got, Decoded), got
        # The JPEG named .png takes the JPEG draft path too: the same pixels as when it is named right.
        assert np.array_equal(expected.square.pixels, got.square.pixels)
        assert (got.facts.width, got.facts.height) == (expected.facts.width, expected.facts.height)


@pytest.mark.slow
def test_a_build_indexes_misnamed_files_and_says_what_it_skipped(
    mislabelled: dict[str, Path], tmp_path: Path, monkeypatch
):
    photos = mislabelled["png as jpg"].parent
    (photos / "notes.txt").write_text("not a photo", encoding="utf-8")
    (photos / "todo.txt").write_text("not a photo either", encoding="utf-8")
    (photos / "scan.pdf").write_bytes(b"%PDF-1.4")
    Image.open(mislabelled["png"]).save(photos / "c.qoi")  # a format the old fixed list skipped
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the suffix set computed afresh
    index = tmp_path / "index"
    run = indexer("build", photos, "--index", index, "--model", "demo", "--device", "cpu", "--workers", "2", "--quiet")
    assert run.returncode == 0, run.stderr
    assert "skipped 3 files that are not images: 2 × .txt, 1 × .pdf" in run.stdout
    assert "indexed 3 (" in run.stdout and "failed 0" in run.stdout


def _build(photos: Path, index: Path, cache: Path, *extra: str) -> subprocess.CompletedProcess:
    """`python -m indexer build` reporting at exit whether Pillow was imported, with its own cache folder."""
    code = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: print('pillow imported:', 'PIL' in sys.modules))\n"
        f"sys.argv = ['indexer', 'build', {str(photos)!r}, '--index', {str(index)!r}, '--model', 'demo', "
        f"'--device', 'cpu', '--workers', '2', '--quiet', *{list(extra)!r}]\n"
        "runpy.run_module('indexer', run_name='__main__')\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=600
    )


# Decodes each file as Pillow's users would (its defaults, the HEIF plugin), independently of the
# indexer; prints the decodable files' paths as JSON.
COUNT_DECODABLE = """
import json, os, sys, warnings
from PIL import Image
try:
    import pillow_heif
    pillow_heif.register_heif_opener()
except ImportError:
    pass
warnings.simplefilter("ignore")
decodable = []
for folder, _, names in os.walk(sys.argv[1]):
    for name in names:
        path = os.path.join(folder, name)
        try:
            with Image.open(path) as image:
                image.load()
            decodable.append(path)
        except Exception:
            pass
print(json.dumps(decodable))
"""


@pytest.mark.slow
@pytest.mark.corpus  # downloads Pillow's source release once: left out of the default run, CI runs it
def test_pillows_own_test_images_are_indexed(tmp_path: Path):
    try:
        images = pillow_test_images()
    except CorpusUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Pillow's test images are needed under CI: {exc}")
        pytest.skip(f"Pillow's test images could not be downloaded: {exc}")
    counted = subprocess.run(
        [sys.executable, "-c", COUNT_DECODABLE, str(images)], capture_output=True, text=True, timeout=600
    )
    assert counted.returncode == 0, counted.stderr[-2000:]
    decodable = set(json.loads(counted.stdout))

    run = _build(images, tmp_path / "index", tmp_path / "cache")
    assert run.returncode == 0, run.stderr[-2000:]
    rows = _rows(tmp_path / "index")
    indexed = {path for path, (state, _) in rows.items() if state in ("indexed", "copy")}
    share = len(decodable & indexed) / len(decodable)
    print(f"\n{len(decodable)} files Pillow decodes, {len(decodable & indexed)} indexed ({share:.1%}); ", end="")
    print(f"not indexed: {sorted(Path(p).name for p in decodable - indexed)}")
    print("\n".join(line for line in run.stdout.splitlines() if not line.startswith("pillow imported")))
    assert share >= 0.99
    # Every other scanned file is recorded as failed, with a reason the page can word.
    for path, (state, reason) in rows.items():
        assert state in ("indexed", "copy") or (state == "failed" and reason in set(ImageProblem)), (path, state)

    # The summary's skipped line, checked against the folder walked here with the rule above.
    wanted, skipped, kept = expected_suffixes(), Counter(), 0
    for _, _, names in os.walk(images):
        for name in (n for n in names if not n.startswith(".")):
            suffix = os.path.splitext(name)[1].lower() or "(no suffix)"
            kept += suffix in wanted
            skipped[suffix] += suffix not in wanted
    assert len(rows) == kept
    line = re.search(r"skipped (\d+) files that are not images: (.*)", run.stdout)
    assert line is not None and int(line.group(1)) == skipped.total()
    shown = [part.split(" × ") for part in line.group(2).split(", ") if " × " in part]
    assert shown and all(skipped[suffix] == int(count) for count, suffix in shown), shown


def _rows(index: Path) -> dict[str, tuple[str, str | None]]:
    with sqlite3.connect(index / "index.sqlite") as db:
        rows = db.execute("SELECT path, state, reason FROM images").fetchall()
    return {(os.fsdecode(p) if isinstance(p, bytes) else p): (state, reason) for p, state, reason in rows}
