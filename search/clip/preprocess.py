"""Image -> model pixels, exactly as ruclip 0.0.2 (torchvision RandomResizedCrop(scale=1, ratio=1),
ToTensor, Normalize), plus the loading of an image file for the encoder and the indexer."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

from ..constants import AVIF_SUFFIXES, HEIF_SUFFIXES
from ..errors import ImageLoadError, ImageProblem
from . import raw

if TYPE_CHECKING:
    import torch

# Modes whose samples do not fit in 8 bits. The reference's convert("RGB") clips them at 255,
# which turns a 16-bit scan into a white square; load_image() rescales them to 8 bits instead.
HIGH_BIT_DEPTH_MODES = {"I", "F", "I;16", "I;16L", "I;16B", "I;16N"}


def center_square(image: Image.Image) -> Image.Image:
    """Crop the largest centred square, with the reference's floor offsets."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def square_pixels(image: Image.Image, resolution: int) -> npt.NDArray[np.uint8]:
    """PIL image of any mode -> uint8 (R, R, 3): RGB, centre square, PIL bilinear resize.

    The first half of preprocess_image, without torch: decoding workers send these 8-bit
    squares to the encoder (4× smaller than floats), which normalises them with normalize_pixels.
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    square = center_square(image).resize((resolution, resolution), Image.Resampling.BILINEAR)
    return np.asarray(square, dtype=np.uint8)


def normalize_pixels(
    squares: npt.NDArray[np.uint8], mean: tuple[float, ...], std: tuple[float, ...]
) -> npt.NDArray[np.float32]:
    """uint8 (..., R, R, 3) -> float32 (..., 3, R, R): ToTensor's /255, then Normalize."""
    pixels = squares.astype(np.float32) / np.float32(255.0)
    pixels = (pixels - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(np.moveaxis(pixels, -1, -3))


def preprocess_image(
    image: Image.Image, resolution: int, mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    """PIL image of any mode -> FloatTensor (3, R, R) with the reference's exact values."""
    import torch  # here, so that decoding workers importing this module do not load torch

    return torch.from_numpy(normalize_pixels(square_pixels(image, resolution), mean, std))


def to_8bit(image: Image.Image) -> Image.Image:
    """Rescale a 16/32-bit or float grayscale image to 8-bit 'L' by its nominal range."""
    data = np.asarray(image)
    if image.mode == "F":
        # Float images are conventionally 0..1; anything else is scaled by its own range.
        lo, hi = (0.0, 1.0) if data.size and data.min() >= 0 and data.max() <= 1 else (data.min(), data.max())
    else:
        lo, hi = 0.0, (65535.0 if data.size and data.max() > 255 else 255.0)
    scaled = (data.astype(np.float64) - lo) * (255.0 / max(hi - lo, 1e-12))
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")


def register_optional_formats() -> frozenset[str]:
    """Enable HEIC/HEIF/AVIF when their Pillow plugins are installed; returns the suffixes gained."""
    gained: set[str] = set()
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        gained |= HEIF_SUFFIXES
        if hasattr(pillow_heif, "register_avif_opener"):
            pillow_heif.register_avif_opener()
            gained |= AVIF_SUFFIXES
    except Exception:  # noqa: BLE001 - absent or broken plugin: those formats stay off
        pass
    if not AVIF_SUFFIXES <= gained:
        try:
            import pillow_avif  # noqa: F401 - registers itself on import

            gained |= AVIF_SUFFIXES
        except Exception:  # noqa: BLE001
            pass
    if hasattr(Image, "registered_extensions") and AVIF_SUFFIXES <= set(Image.registered_extensions()):
        gained |= AVIF_SUFFIXES  # Pillow ≥ 11.3 decodes AVIF itself when built with libavif
    return frozenset(gained)


def load_image(path: str | Path | BinaryIO, *, draft_short_side: int | None = None) -> Image.Image:
    """Open and fully decode an image file, upright (EXIF orientation applied), in 8-bit modes.

    `path` may also be an open binary file (an upload); messages then name it by its `name`.

    The format is the content's, not the suffix's: a PNG named .jpg decodes as a PNG. Camera RAW
    files (a RAW suffix, a RAW signature, or a TIFF that is a DNG) go to rawpy (see raw.py); a file
    with a RAW suffix whose content rawpy does not know is tried with Pillow before it is refused.

    `draft_short_side` lets a large JPEG decode at reduced scale (the indexer's fast path; not exact)
    and a RAW use its embedded preview when that is at least this big; the full upright size is then
    in `image.info["full_size"]` (always set, drafted or not).
    Raises ImageLoadError naming the file for anything Pillow cannot decode, including images
    whose size trips Pillow's decompression-bomb warning.
    """
    if isinstance(path, str | Path):
        path = Path(path)
        label = str(path)
    else:
        label = str(getattr(path, "name", "the uploaded image"))
    try:
        head = _head(path)
        if raw.has_raw_magic(head) or raw.is_raw_name(label):
            try:
                return _raw_image(path, label, draft_short_side)
            except ImageLoadError:
                if raw.has_raw_magic(head) or raw.is_tiff(head):
                    raise  # RAW by content: Pillow would at best decode its tiny first thumbnail
                # A RAW suffix on another format's content (a JPEG renamed .dng): Pillow's turn.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.format == "TIFF" and raw.is_dng(image):
                    return _raw_image(path, label, draft_short_side)  # a DNG named .tif
                full_size = image.size
                if draft_short_side and image.format == "JPEG" and min(image.size) > draft_short_side:
                    # DCT scaling: decode at 1/2..1/8 size, keeping the short side ≥ draft_short_side.
                    scale = draft_short_side / min(image.size)
                    image.draft(None, (math.ceil(image.width * scale), math.ceil(image.height * scale)))
                image.load()
                drafted_size = image.size
                upright = ImageOps.exif_transpose(image)
    except FileNotFoundError:
        raise ImageLoadError(f"{label}: no such file.", ImageProblem.VANISHED) from None
    except PermissionError:
        raise ImageLoadError(
            f"{label}: permission denied; check the file's read permission.", ImageProblem.PERMISSION_DENIED
        ) from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageLoadError(f"{label}: image too large to decode safely ({exc}).", ImageProblem.TOO_LARGE) from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageLoadError(f"{label}: not a readable image ({exc}).") from None
    if upright.mode in HIGH_BIT_DEPTH_MODES:
        upright = to_8bit(upright)
    turned = upright.size != drafted_size  # EXIF orientation swapped width and height
    upright.info["full_size"] = full_size[::-1] if turned else full_size
    return upright


def _head(source: Path | BinaryIO) -> bytes:
    """The first bytes, to tell a RAW by its content; an open file is put back where it was."""
    if isinstance(source, Path):
        with open(source, "rb") as handle:
            return handle.read(raw.HEAD_BYTES)
    try:
        position = source.tell()
        head = source.read(raw.HEAD_BYTES)
        source.seek(position)
    except (OSError, AttributeError, ValueError):  # not seekable: leave the routing to Pillow
        return b""
    return head if isinstance(head, bytes) else b""


def _raw_image(source: Path | BinaryIO, label: str, min_short_side: int | None) -> Image.Image:
    """raw.load_raw with its errors worded: one ImageLoadError naming the file and the fix."""
    try:
        import rawpy
    except ImportError:
        raise ImageLoadError(
            f"{label}: a camera RAW file; install rawpy to read it (pip install rawpy).",
            ImageProblem.RAW_UNREADABLE,
        ) from None
    if not isinstance(source, Path):
        source.seek(0)
    try:
        return raw.load_raw(source, min_short_side)
    except (rawpy.LibRawTooBigError, Image.DecompressionBombError) as exc:
        raise ImageLoadError(f"{label}: RAW image too large to decode ({exc}).", ImageProblem.TOO_LARGE) from None
    except (rawpy.LibRawUnsufficientMemoryError, rawpy.LibRawMemPoolOverflowError):
        raise ImageLoadError(
            f"{label}: decoding the RAW needed more memory than allowed.", ImageProblem.OUT_OF_MEMORY
        ) from None
    except (rawpy.LibRawError, rawpy.NotSupportedError, OSError, ValueError) as exc:
        raise ImageLoadError(
            f"{label}: camera RAW that LibRaw cannot read ({type(exc).__name__}: {exc}); the file is damaged "
            "or its camera is newer than the installed rawpy (pip install -U rawpy).",
            ImageProblem.RAW_UNREADABLE,
        ) from None
