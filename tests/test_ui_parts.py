"""The UI's parts that need no page: thumbnails (cache, orientation, the indexed-folders rule),
the folder filter's choices, the app's arguments, and telling a model download from a load."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from PIL import Image

from search.clip.hub import DOWNLOADED_FILES
from search.constants import DEFAULT_MODEL, HUB_ORGANISATION
from search.errors import ImageLoadError
from ui.folders import photo_folders
from ui.loading import _needs_download
from ui.settings import read_settings
from ui.thumbnails import THUMBNAIL_DIR, THUMBNAIL_PX, inside_roots, preview, thumbnail

from .helpers import REPO_ROOT

EXIF_ORIENTATION = 0x0112


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    return root


def _decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_a_thumbnail_is_upright_small_and_cached_in_the_index_folder(tmp_path, photos):
    # Stored 1200×800 (landscape) with "rotate 90°" in EXIF: the camera was held upright.
    path = photos / "upright.jpg"
    pixels = Image.new("RGB", (1200, 800), "red")
    pixels.paste(Image.new("RGB", (600, 800), "blue"))  # left half blue
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    pixels.save(path, quality=90, exif=exif)
    index = tmp_path / "index"

    data = thumbnail(index, 7, str(path), [str(photos)])
    image = _decoded(data)
    assert image.format == "JPEG"
    assert image.size == (THUMBNAIL_PX * 800 // 1200, THUMBNAIL_PX)  # portrait, long side THUMBNAIL_PX
    top, bottom = image.getpixel((image.width // 2, 10)), image.getpixel((image.width // 2, image.height - 10))
    assert top[2] > 200 and bottom[0] > 200  # rotated 90° clockwise: the blue left half is now on top

    cached = list((index / THUMBNAIL_DIR).rglob("7-*.jpg"))
    assert len(cached) == 1 and cached[0].read_bytes() == data
    cached[0].write_bytes(b"from the cache")  # the next view reads the file, it does not decode again
    assert thumbnail(index, 7, str(path), [str(photos)]) == b"from the cache"

    Image.new("RGB", (300, 200), "green").save(path)  # the photo was edited: a new thumbnail, the old one gone
    os.utime(path, ns=(1, 10**18))
    fresh = _decoded(thumbnail(index, 7, str(path), [str(photos)]))
    assert fresh.getpixel((5, 5))[1] > 100 and fresh.size == (300, 200)  # never enlarged
    assert len(list((index / THUMBNAIL_DIR).rglob("7-*.jpg"))) == 1


def test_transparent_pictures_are_shown_on_white(tmp_path, photos):
    path = photos / "logo.png"
    Image.new("RGBA", (100, 50), (0, 0, 0, 0)).save(path)
    image = _decoded(thumbnail(tmp_path / "index", 1, str(path), [str(photos)]))
    assert min(image.getpixel((50, 25))) > 240


def test_only_files_inside_the_indexed_folders_are_read(tmp_path, photos):
    secret = tmp_path / "secret.jpg"
    Image.new("RGB", (10, 10)).save(secret)
    roots = [str(photos)]
    for path in (secret, photos / ".." / "secret.jpg", tmp_path / "photos2" / "x.jpg"):
        assert not inside_roots(path, roots)
        with pytest.raises(ImageLoadError, match="outside the indexed folders"):
            thumbnail(tmp_path / "index", 1, str(path), roots)
        with pytest.raises(ImageLoadError, match="outside the indexed folders"):
            preview(str(path), roots)
    assert inside_roots(photos / "album" / "a.jpg", roots)


def test_a_photo_gone_since_the_build_is_a_message_not_a_crash(tmp_path, photos):
    with pytest.raises(ImageLoadError, match="moved or deleted"):
        thumbnail(tmp_path / "index", 1, str(photos / "gone.jpg"), [str(photos)])


def test_the_folder_filter_offers_albums_but_not_the_index_or_hidden_folders(photos):
    for folder in ("2023/лето/пляж/глубоко", "2024", ".thumbnails", "index/thumbnails"):
        (photos / folder).mkdir(parents=True)
    found = photo_folders([str(photos)], skip=str(photos / "index"))
    assert found == [str(photos), str(photos / "2023"), str(photos / "2023" / "лето"), str(photos / "2024")]


def test_the_app_reads_its_own_arguments_and_leaves_others_alone(tmp_path):
    settings = read_settings(["--index", str(tmp_path), "--device", "cpu", "--unrelated-flag"])
    assert settings.index == tmp_path and settings.device == "cpu"
    assert str(read_settings([]).index) == "data/index"


def test_python_m_ui_teaches_its_options():
    shown = subprocess.run([sys.executable, "-m", "ui", "--help"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert shown.returncode == 0
    assert "--index" in shown.stdout and "python -m indexer build" in shown.stdout


def test_a_model_missing_from_the_hub_cache_is_announced_as_a_download(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    assert _needs_download(DEFAULT_MODEL)
    assert not _needs_download("demo")
    # The cache layout huggingface_hub reads: refs/main names a snapshot holding the files.
    repo = tmp_path / f"models--{HUB_ORGANISATION}--{DEFAULT_MODEL}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for name in DOWNLOADED_FILES:
        (snapshot / name).write_bytes(b"cached")
    assert not _needs_download(DEFAULT_MODEL)


def test_iphone_heic_photos_get_thumbnails(tmp_path, photos):
    pytest.importorskip("pillow_heif")  # a dependency; ui.thumbnails registers its opener
    path = photos / "IMG_1234.HEIC"
    Image.new("RGB", (800, 600), (20, 200, 30)).save(path, format="HEIF")
    image = _decoded(thumbnail(tmp_path / "index", 3, str(path), [str(photos)]))
    assert image.format == "JPEG" and image.size == (THUMBNAIL_PX, THUMBNAIL_PX * 3 // 4)
    assert image.getpixel((10, 10))[1] > 150
