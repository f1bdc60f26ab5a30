"""The GPU engine's CPU-testable parts (indexer/engines/gpu.py, search/images/device.py): which files go
to the device decoder and which to the CPU pool, the fallbacks, EXIF orientation, the device-side
square against square_pixels, batch sizing, and the rows the engine hands the writer, all with the
device set to the CPU. The decoder is torchvision's decode_jpeg where torchvision loads, and the
Pillow stand-in everywhere (so CI without the gpu extra still runs everything after the decoder)."""

from __future__ import annotations

import io
import threading
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import search
from indexer.encode import rows_of_batch  # noqa: F401 - the engine's contract with the writer
from indexer.engines.gpu import GpuEngine
from indexer.engines.gpu_batch import MAX_BATCH, MEMORY_SHARE, batch_size_for, bytes_per_image
from indexer.engines.local import LocalEngine
from indexer.scan import FoundFile
from indexer.stages import DECODE, ENCODE, StageTimes
from search.constants import EXIF_DATE_TAKEN, EXIF_IFD, EXIF_MAKE, EXIF_MODEL
from search.duplicates import print_distance
from search.images import decode_one, file_hash, load_image, square_pixels
from search.images.device import (
    JpegJob,
    ToCpu,
    device_print,
    device_square,
    read_job,
    torchvision_decode_jpeg,
    upright,
)
from search.images.orientation import EXIF_ORIENTATION, UPRIGHT
from search.images.picture_print import picture_print

from .helpers import TINY_MODEL

REPO = Path(__file__).resolve().parent.parent
PHOTOS = sorted((REPO / "data" / "demo" / "backgrounds").glob("*.jpg"))
DECODERS = [
    "pillow",
    pytest.param(
        "torchvision",
        marks=pytest.mark.skipif(
            torchvision_decode_jpeg() is None, reason="needs torchvision (the gpu extra) matching the installed torch"
        ),
    ),
]


def photo(index: int, size: tuple[int, int] = (1200, 900)) -> Image.Image:
    """A real picture (the demo's backgrounds), upscaled to a camera-like 4:3 frame."""
    return Image.open(PHOTOS[index % len(PHOTOS)]).convert("RGB").resize(size, Image.Resampling.BICUBIC)


def save_jpeg(image: Image.Image, path: Path, orientation: int | None = None, **kwargs) -> Path:
    exif = Image.Exif()
    if orientation is not None:
        exif[EXIF_ORIENTATION] = orientation
    exif[EXIF_MAKE], exif[EXIF_MODEL] = "Canon", "Canon EOS 5D"
    exif.get_ifd(EXIF_IFD)[EXIF_DATE_TAKEN] = "2021:06:05 14:30:00"
    image.save(path, "JPEG", quality=90, exif=exif, **kwargs)
    return path


def broken_huffman(path: Path) -> Path:
    """A JPEG whose markers and end are intact (the router lets it through) but whose Huffman table
    is emptied: the decoder itself must refuse it."""
    buffer = io.BytesIO()
    photo(0, (96, 72)).save(buffer, "JPEG")
    data = buffer.getvalue()
    table = data.find(b"\xff\xc4")
    path.write_bytes(data[: table + 5] + b"\x00" * 16 + data[table + 21 :])
    return path


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> dict[str, Path]:
    """Good JPEGs, an EXIF-rotated one with its upright twin, a progressive one, a copy, and every fallback."""
    folder = tmp_path_factory.mktemp("gpu-collection")
    files = {f"good{i}": save_jpeg(photo(i), folder / f"good{i}.jpg") for i in range(3)}
    upright_picture = photo(1)
    # Stored turned a quarter anticlockwise, tagged 6 ("turn clockwise to view"): upright when shown.
    files["rotated"] = save_jpeg(upright_picture.transpose(Image.Transpose.ROTATE_90), folder / "rot.jpg", 6)
    files["progressive"] = save_jpeg(photo(2), folder / "progressive.jpg", progressive=True)
    files["copy"] = folder / "copy_of_good0.jpg"
    files["copy"].write_bytes(files["good0"].read_bytes())
    files["png"] = folder / "picture.png"
    photo(0, (400, 300)).save(files["png"])
    files["cmyk"] = folder / "cmyk.jpg"
    photo(1, (400, 300)).convert("CMYK").save(files["cmyk"], "JPEG")
    files["truncated"] = folder / "truncated.jpg"
    files["truncated"].write_bytes(files["good1"].read_bytes()[:20_000])
    files["refused"] = broken_huffman(folder / "refused.jpg")
    files["vanished"] = folder / "vanished.jpg"  # scanned, then gone
    return files


# ---- routing ----------------------------------------------------------------------------------------


def test_routing_sends_only_plain_complete_jpegs_to_the_device(collection):
    device = {name for name, path in collection.items() if isinstance(read_job(str(path)), JpegJob)}
    assert device == {"good0", "good1", "good2", "rotated", "progressive", "copy", "refused"}
    reasons = {name: read_job(str(collection[name])).why for name in ("png", "cmyk", "truncated", "vanished")}
    assert "not a JPEG" in reasons["png"]
    assert "CMYK" in reasons["cmyk"]
    assert "truncated" in reasons["truncated"]
    assert "FileNotFoundError" in reasons["vanished"]


def test_a_truncated_jpeg_with_an_exif_thumbnail_is_still_truncated(tmp_path):
    """The EXIF thumbnail has its own end-of-image marker before the main picture's scan."""
    buffer = io.BytesIO()
    photo(0, (64, 48)).save(buffer, "JPEG")
    thumbnail = buffer.getvalue()
    exif = Image.Exif()
    exif[EXIF_MAKE] = "Canon"
    path = tmp_path / "thumb.jpg"
    photo(1).save(path, "JPEG", exif=exif.tobytes() + thumbnail)  # the thumbnail's bytes inside APP1
    whole = path.read_bytes()
    assert isinstance(read_job(str(path)), JpegJob)
    path.write_bytes(whole[: len(whole) // 2])
    assert whole.find(b"\xff\xd9") < len(whole) // 2  # the thumbnail's EOI survives the cut
    job = read_job(str(path))
    assert isinstance(job, ToCpu) and "truncated" in job.why


def test_read_job_takes_the_header_facts_the_cpu_decoder_takes(collection):
    for name in ("good0", "rotated"):
        path = str(collection[name])
        job = read_job(path)
        cpu = decode_one(path, 224, fast_jpeg=False)
        assert isinstance(job, JpegJob)
        # The header holds no picture: the print is the one fact the route leaves to the next CPU pass.
        assert job.facts.picture_print is None and cpu.facts.picture_print is not None
        assert job.facts == replace(cpu.facts, picture_print=None)
        assert job.facts.taken_at == datetime(2021, 6, 5, 14, 30)
        assert job.facts.camera == "Canon EOS 5D"
        assert job.facts.content_hash == file_hash(path)
    rotated = read_job(str(collection["rotated"]))
    assert rotated.orientation == 6
    assert (rotated.facts.width, rotated.facts.height) == (1200, 900)


# ---- the device-side square --------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_upright_matches_pillows_transpositions(orientation):
    stored = np.random.default_rng(orientation).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    image = Image.fromarray(stored)
    expected = np.asarray(image.transpose(UPRIGHT[orientation]) if orientation in UPRIGHT else image)
    ours = upright(torch.from_numpy(stored).permute(2, 0, 1), orientation).permute(1, 2, 0).numpy()
    assert ours.shape == expected.shape
    assert np.array_equal(ours, expected)


@pytest.mark.parametrize("size", [(4000, 3000), (900, 1200), (300, 200), (224, 224)])
def test_device_square_is_square_pixels_within_one_level(size):
    picture = photo(0, size)
    expected = square_pixels(picture, 224).astype(np.int16)
    ours = device_square(torch.from_numpy(np.array(picture)).permute(2, 0, 1), 1, 224).permute(1, 2, 0).numpy()
    difference = np.abs(ours.astype(np.int16) - expected)
    assert ours.shape == (224, 224, 3)
    assert difference.max() <= 1
    assert np.sqrt(np.mean(difference.astype(np.float32) ** 2)) < 0.1


# ---- batch sizing ------------------------------------------------------------------------------------

B32 = search.PUBLISHED_CONFIGS["ruclip-vit-base-patch32-384"]
L14 = search.PUBLISHED_CONFIGS["ruclip-vit-large-patch14-336"]
GB = 1 << 30


def test_batch_size_follows_free_memory_model_and_precision():
    h100_free = 78 * GB
    fp16, fp32 = (batch_size_for(h100_free, B32, dtype) for dtype in (torch.float16, torch.float32))
    assert 128 <= fp16 <= MAX_BATCH  # a 12-MP batch worth a card's time
    assert fp16 >= fp32
    assert batch_size_for(h100_free, L14, torch.float16) <= fp16
    sizes = [batch_size_for(free * GB, B32, torch.float16) for free in (1, 4, 8, 16, 32, 64)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    for size, free in zip(sizes, (1, 4, 8, 16, 32, 64), strict=True):
        assert size == 1 or size * bytes_per_image(B32, torch.float16, 12.0) <= MEMORY_SHARE * free * GB
        assert size < 8 or size % 8 == 0
    assert batch_size_for(0, B32, torch.float16) == 1  # never zero: one image at a time still works
    assert batch_size_for(10_000 * GB, B32, torch.float16) == MAX_BATCH
    # Larger photos, smaller batches.
    assert batch_size_for(16 * GB, B32, torch.float16, megapixels=48) < batch_size_for(16 * GB, B32, torch.float16)


# ---- the engine, on the CPU --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model() -> search.RuClip:
    return search.load_model(TINY_MODEL, device="cpu")


def rows_by_name(engine, collection, model, known=lambda hashes: {}) -> tuple[dict, StageTimes]:
    names = {str(path): name for name, path in collection.items()}
    work = [FoundFile(str(path), 1, 1) for path in collection.values()]
    stages = StageTimes()
    rows = [row for batch in engine.row_batches(work, known, stages) for row in batch]
    assert len(rows) == len(work)  # every file once
    return {names[row.file.path]: row for row in rows}, stages


@pytest.mark.parametrize("decoder", DECODERS)
def test_engine_rows_match_the_cpu_engines(decoder, collection, model):
    engine = GpuEngine(model, workers=1, batch_size=4, decoder=decoder)
    ours, stages = rows_by_name(engine, collection, model)
    reference, _ = rows_by_name(LocalEngine(model, 1, 4, fast_jpeg=False), collection, model)
    for name, row in ours.items():
        expected = reference[name]
        assert type(row) is type(expected), name
        if hasattr(row, "vector"):
            assert float(row.vector @ expected.vector) >= 0.999, name
            # The print is the device's cell means (torch's pooling, not Pillow's box filter): near, not equal.
            assert replace(row.facts, picture_print=None) == replace(expected.facts, picture_print=None), name
            assert print_distance(row.facts.picture_print, expected.facts.picture_print) <= 0.02, name
        else:
            assert (row.reason, row.detail) == (expected.reason, expected.detail), name
    assert {name for name, row in ours.items() if not hasattr(row, "vector")} == {"truncated", "refused", "vanished"}
    assert engine.routed_to_cpu[str(collection["refused"])] == "refused by the device decoder"
    assert set(engine.routed_to_cpu) == {
        str(collection[n]) for n in ("png", "cmyk", "truncated", "refused", "vanished")
    }
    assert np.allclose(ours["copy"].vector, ours["good0"].vector, atol=1e-6)  # same bytes, same vector
    assert stages[ENCODE].images == len(collection)
    assert stages[DECODE].images == len(collection)  # 7 on the device decoder, 5 in the pool


def test_an_exif_rotated_jpeg_is_encoded_upright(tmp_path, model):
    picture = photo(3)
    files = {
        "upright": save_jpeg(picture, tmp_path / "upright.jpg"),
        "tagged": save_jpeg(picture.transpose(Image.Transpose.ROTATE_90), tmp_path / "tagged.jpg", 6),
        "untagged": save_jpeg(picture.transpose(Image.Transpose.ROTATE_90), tmp_path / "untagged.jpg"),
    }
    rows, _ = rows_by_name(GpuEngine(model, workers=1, batch_size=8, decoder="pillow"), files, model)
    turned_off = 1 - float(rows["untagged"].vector @ rows["upright"].vector)  # what a missed turn costs
    off = 1 - float(rows["tagged"].vector @ rows["upright"].vector)
    assert off < turned_off / 20
    assert (rows["tagged"].facts.width, rows["tagged"].facts.height) == (1200, 900)


def test_known_contents_are_not_encoded_again(collection, model):
    first, _ = rows_by_name(GpuEngine(model, workers=1, batch_size=4, decoder="pillow"), collection, model)
    held = {row.facts.content_hash: row.vector for row in first.values() if hasattr(row, "vector")}
    again, stages = rows_by_name(
        GpuEngine(model, workers=1, batch_size=4, decoder="pillow"),
        collection,
        model,
        known=lambda hashes: {h: held[h] for h in hashes if h in held},
    )
    assert all(row.reused for row in again.values() if hasattr(row, "vector"))


def test_stopping_early_lets_every_thread_go(collection, model):
    big = {f"{name}{i}": path for i in range(6) for name, path in collection.items() if name.startswith("good")}
    work = [FoundFile(str(path), 1, 1) for path in big.values()]
    batches = GpuEngine(model, workers=1, batch_size=2, decoder="pillow").row_batches(work, lambda h: {}, StageTimes())
    assert len(next(batches)) >= 2
    batches.close()
    alive = [t.name for t in threading.enumerate() if t.name in ("gpu-decoder", "cpu-decoder")]
    assert alive == []


def test_load_image_and_the_device_square_agree_on_a_rotated_file(collection):
    """The whole CPU reference (load_image: EXIF transpose, then square_pixels) against read_job +
    the decoder stand-in + device_square, pixel by pixel."""
    path = str(collection["rotated"])
    job = read_job(path)
    stored = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)
    ours = device_square(stored, job.orientation, 224).permute(1, 2, 0).numpy().astype(np.int16)
    expected = square_pixels(load_image(path), 224).astype(np.int16)
    assert np.abs(ours - expected).max() <= 1


def test_the_device_print_is_the_cpu_print_of_the_upright_picture():
    picture = photo(3, (640, 480))
    tensor = torch.from_numpy(np.array(picture)).permute(2, 0, 1).contiguous()
    on_device = device_print(tensor, 1).numpy().tobytes()
    assert print_distance(on_device, picture_print(picture)) <= 0.01
    turned = device_print(tensor, 6).numpy().tobytes()  # orientation 6: turned 90° clockwise to be seen
    assert print_distance(turned, picture_print(picture.transpose(Image.Transpose.ROTATE_270))) <= 0.01
