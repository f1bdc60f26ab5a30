"""Camera RAW through rawpy: real DNG files (written by tests/dng.py from a demo photo) decode upright,
with the RAW's size, date and camera, in the decoding workers; a damaged RAW is a recorded failure."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from indexer.decode import DecodePool
from search.constants import RAW_SUFFIXES
from search.errors import ImageLoadError, ImageProblem
from search.images import Decoded, Failed, decode_one, image_suffixes, load_image

from .dng import dng_bytes
from .helpers import REPO_ROOT

pytest.importorskip("rawpy", reason="rawpy is a dependency: pip install -e .")

DEMO_PHOTO = REPO_ROOT / "data" / "demo" / "photos" / "2023 лето" / "IMG_0001.jpg"


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    """A 640×480 demo photo: big enough that a 384-pixel preview is 'big enough' and a 64-pixel one is not."""
    return Image.open(DEMO_PHOTO).convert("RGB").resize((640, 480), Image.Resampling.BICUBIC)


def _mean_difference(a: Image.Image, b: Image.Image) -> float:
    b = b.resize(a.size, Image.Resampling.BILINEAR)
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b.convert("RGB"), np.float64)).mean())


def test_a_dng_decodes_by_demosaic_when_its_preview_is_small(tmp_path: Path, picture: Image.Image):
    path = tmp_path / "IMG_0001.dng"
    path.write_bytes(dng_bytes(picture))  # a 64-pixel preview: smaller than any model's input
    image = load_image(path, draft_short_side=224)
    assert image.mode == "RGB"
    assert image.size == (320, 240)  # LibRaw's half-size demosaic
    assert image.info["full_size"] == (640, 480)  # the RAW's own size, not the decoded one
    # The demosaic of the mosaic of the picture is the picture again (colour matrix = sRGB, D65).
    assert _mean_difference(image, picture) < 12


def test_a_dng_uses_its_preview_when_it_is_big_enough(tmp_path: Path, picture: Image.Image):
    red = tmp_path / "red-preview.dng"  # a preview unlike the picture: tells which of the two was decoded
    red.write_bytes(dng_bytes(picture, preview=Image.new("RGB", (512, 384), (250, 10, 10))))
    image = load_image(red, draft_short_side=224)
    assert image.info["full_size"] == (640, 480)
    assert np.asarray(image).reshape(-1, 3).mean(axis=0)[0] > 200  # the red preview, not the demosaic
    assert min(image.size) >= 224
    # Asked for more than the preview has (here 1024 by default), the RAW itself is developed.
    developed = load_image(red)
    assert _mean_difference(developed, picture) < 12


@pytest.mark.parametrize("preview_size", [None, (512, 384)], ids=["demosaic", "preview"])
def test_a_dng_is_turned_upright_by_its_orientation(tmp_path: Path, picture: Image.Image, preview_size):
    path = tmp_path / "portrait.dng"
    path.write_bytes(dng_bytes(picture, orientation=6, preview_size=preview_size))  # turn 90° clockwise
    image = load_image(path, draft_short_side=224)
    assert image.info["full_size"] == (480, 640)
    upright = picture.transpose(Image.Transpose.ROTATE_270)
    assert image.width < image.height
    assert _mean_difference(image, upright) < 12
    assert _mean_difference(image, upright) < _mean_difference(image, picture.transpose(Image.Transpose.ROTATE_90))


def test_the_decoder_records_a_dngs_date_taken_and_camera(tmp_path: Path, picture: Image.Image):
    path = tmp_path / "dated.dng"
    path.write_bytes(dng_bytes(picture, make="Testcam", model="Testcam DNG-1", taken="2021:06:05 14:30:00"))
    decoded = decode_one(str(path), 224)
    assert isinstance(decoded, Decoded), decoded
    # DateTimeOriginal, not IFD0's DateTime (2022, the file's last change).
    assert decoded.facts.taken_at == datetime(2021, 6, 5, 14, 30)
    assert decoded.facts.camera == "Testcam DNG-1"
    assert (decoded.facts.width, decoded.facts.height) == (640, 480)
    assert decoded.square.pixels.shape == (224, 224, 3)

    other = tmp_path / "other.dng"
    other.write_bytes(dng_bytes(picture, make="Acme", model="R1", taken="2019:12:31 23:59:58"))
    decoded = decode_one(str(other), 224)
    assert (decoded.facts.taken_at, decoded.facts.camera) == (datetime(2019, 12, 31, 23, 59, 58), "Acme R1")


def test_a_raw_is_known_by_its_content_not_its_suffix(tmp_path: Path, picture: Image.Image):
    data = dng_bytes(picture)
    named_tif = tmp_path / "scan.tif"  # Pillow alone would decode only the 64-pixel preview of IFD0
    named_tif.write_bytes(data)
    image = load_image(named_tif, draft_short_side=224)
    assert image.info["full_size"] == (640, 480) and image.size == (320, 240)

    jpeg_named_dng = tmp_path / "not-really.dng"  # a JPEG with a RAW suffix: Pillow's after all
    picture.save(jpeg_named_dng, "JPEG", quality=90)
    image = load_image(jpeg_named_dng)
    assert image.size == (640, 480) and _mean_difference(image, picture) < 6

    upload = io.BytesIO(data)  # an upload (the page, the API): no name to go by at all
    image = load_image(upload, draft_short_side=224)
    assert image.info["full_size"] == (640, 480)


def test_a_damaged_raw_is_one_recorded_failure_with_its_reason(tmp_path: Path, picture: Image.Image):
    damaged = tmp_path / "DSC_0001.nef"
    damaged.write_bytes(dng_bytes(picture)[:300])  # a TIFF header and nothing it points to
    with pytest.raises(ImageLoadError) as raised:
        load_image(damaged)
    assert raised.value.reason is ImageProblem.RAW_UNREADABLE
    assert str(damaged) in str(raised.value) and "rawpy" in str(raised.value)

    failed = decode_one(str(damaged), 224)
    assert isinstance(failed, Failed) and failed.reason is ImageProblem.RAW_UNREADABLE

    signature_only = tmp_path / "IMG_0002.cr3"
    signature_only.write_bytes(b"\0\0\0\x18ftypcrx " + b"\0" * 100)
    assert decode_one(str(signature_only), 224).reason is ImageProblem.RAW_UNREADABLE


@pytest.mark.slow
def test_raw_files_decode_in_the_isolated_workers_beside_broken_ones(tmp_path: Path, picture: Image.Image):
    good = tmp_path / "good.dng"
    good.write_bytes(dng_bytes(picture))
    broken = tmp_path / "broken.arw"
    broken.write_bytes(b"II*\x00" + b"\xff" * 64)
    jpeg = tmp_path / "plain.jpg"
    picture.save(jpeg, quality=90)
    with DecodePool(224, workers=1, timeout_s=30) as pool:
        results = {Path(r.path).name: r for r in pool.imap([str(good), str(broken), str(jpeg)])}
    assert isinstance(results["good.dng"], Decoded) and results["good.dng"].facts.camera == "Testcam DNG-1"
    assert isinstance(results["broken.arw"], Failed) and results["broken.arw"].reason is ImageProblem.RAW_UNREADABLE
    assert isinstance(results["plain.jpg"], Decoded)


def test_the_scan_looks_for_raw_files_when_rawpy_is_installed():
    assert RAW_SUFFIXES <= image_suffixes()
    assert {".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2"} <= RAW_SUFFIXES


@pytest.mark.slow
def test_a_dngs_embedding_is_the_same_pictures_as_jpeg(tmp_path: Path, picture: Image.Image):
    import search

    model = search.load_model("demo", device="cpu")
    jpeg, raw = tmp_path / "photo.jpg", tmp_path / "photo.dng"
    picture.save(jpeg, quality=92)
    raw.write_bytes(dng_bytes(picture))  # developed by LibRaw (its preview is too small to use)
    other = tmp_path / "other.jpg"
    Image.open(REPO_ROOT / "data" / "demo" / "photos" / "2023 лето" / "IMG_0004.jpg").save(other)
    vectors = model.encode_images([jpeg, raw, other])
    same, different = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert same > 0.9, same
    assert same > different
