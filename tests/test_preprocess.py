"""Pixels from any PIL mode, and image files opened upright with clear errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

import search


def _photo(size=(300, 200)) -> Image.Image:
    rng = np.random.default_rng(0)
    gradient = np.linspace(0, 255, size[0], dtype=np.float32)[None, :, None]
    noise = rng.integers(0, 60, (size[1], size[0], 3))
    return Image.fromarray(np.clip(gradient + noise, 0, 255).astype(np.uint8), "RGB")


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "CMYK", "YCbCr", "1", "I;16", "I", "F"])
def test_any_mode_is_what_the_reference_does_with_it(tiny_model, mode):
    # ruclip 0.0.2 converts every non-RGB image with PIL's convert("RGB") before the RGB transform
    # (which the golden test pins): each mode must give exactly that.
    image = _photo().convert(mode)
    pixels = tiny_model.preprocess(image)
    assert pixels.shape == (3, 224, 224) and pixels.dtype == torch.float32
    assert torch.equal(pixels, tiny_model.preprocess(image.convert("RGB")))


@pytest.mark.parametrize("size", [(224, 224), (225, 224), (224, 225), (1001, 333), (17, 900), (1, 1)])
def test_centre_crop_of_odd_sizes(tiny_model, size):
    image = _photo(size)
    side = min(size)
    left, top = (size[0] - side) // 2, (size[1] - side) // 2
    expected = image.crop((left, top, left + side, top + side)).resize((224, 224), Image.Resampling.BILINEAR)
    unnormalised = tiny_model.preprocess(image) * torch.tensor(tiny_model.config.std)[:, None, None]
    unnormalised += torch.tensor(tiny_model.config.mean)[:, None, None]
    assert np.abs(unnormalised.permute(1, 2, 0).numpy() * 255 - np.asarray(expected)).max() < 1e-3


def _jpeg_with_orientation(image: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, exif=exif)
    return buffer.getvalue()


def test_exif_rotated_photo_is_loaded_upright(tmp_path):
    ramp = np.linspace(0, 255, 300, dtype=np.float32)[None, :, None] * np.ones((200, 1, 3), np.float32)
    upright = Image.fromarray(ramp.astype(np.uint8), "RGB")  # dark left edge, bright right edge
    # Orientation 6: the camera stored the picture rotated; viewers turn it 90° clockwise.
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    path = tmp_path / "rotated.jpg"
    path.write_bytes(_jpeg_with_orientation(stored, 6))
    loaded = search.load_image(path)
    assert loaded.size == (300, 200)
    error = lambda a, b: np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean()  # noqa: E731
    assert error(loaded, upright) < 3
    assert error(loaded, upright.transpose(Image.Transpose.ROTATE_180)) > 50


def test_encode_images_from_a_path_uses_the_upright_image(tiny_model, tmp_path):
    upright = _photo((300, 200))
    path = tmp_path / "rotated.jpg"
    path.write_bytes(_jpeg_with_orientation(upright.transpose(Image.Transpose.ROTATE_90), 6))
    from_path = tiny_model.encode_images([path])
    loaded = tiny_model.encode_images([search.load_image(path)])
    sideways = tiny_model.encode_images([Image.open(path)])  # PIL image as given: no rotation
    assert np.abs(from_path - loaded).max() < 1e-6
    assert np.abs(from_path - sideways).max() > 1e-3


def test_sixteen_bit_grayscale_file_keeps_its_contrast(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (64, 1))
    path = tmp_path / "scan16.png"
    Image.fromarray(ramp).save(path)
    loaded = search.load_image(path)
    values = np.asarray(loaded)
    assert loaded.mode == "L"
    assert values.min() == 0 and values.max() == 255  # not clipped to white as convert("RGB") would
    assert abs(int(values[0, 128]) - 128) <= 2


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.jpg", b"", "not a readable image"),
        ("notes.jpg", "просто текст".encode(), "not a readable image"),
        ("half.jpg", None, "not a readable image"),
    ],
)
def test_unreadable_files_name_the_file(tmp_path, name, content, message):
    if content is None:  # a JPEG cut in the middle
        buffer = io.BytesIO()
        _photo().save(buffer, "JPEG")
        content = buffer.getvalue()[: len(buffer.getvalue()) // 2]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(search.ImageLoadError, match=message) as info:
        search.load_image(path)
    assert str(path) in str(info.value)


def test_decompression_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(path)  # 400 MP: over Pillow's warning threshold
    with pytest.raises(search.ImageLoadError, match="too large"):
        search.load_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(search.ImageLoadError, match="no such file"):
        search.load_image(tmp_path / "nope.jpg")
