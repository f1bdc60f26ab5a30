"""Any image file -> an upright picture in 8-bit modes: load_image, the one opener of the project.

Pillow with every plugin of its registry (formats.py), its decompression-bomb warning raised as an
error, camera RAW through rawpy (raw.py), the EXIF orientation applied (orientation.py), and
16-bit or float pictures rescaled to 8 bits (the reference's convert("RGB") would clip them at 255).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from ..errors import ImageLoadError, ImageProblem
from ..i18n import _
from . import raw
from .formats import ensure_optional_formats
from .orientation import upright

# Modes whose samples do not fit in 8 bits. The reference's convert("RGB") clips them at 255,
# which turns a 16-bit scan into a white square; load_image() rescales them to 8 bits instead.
HIGH_BIT_DEPTH_MODES = {"I", "F", "I;16", "I;16L", "I;16B", "I;16N"}


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
    ensure_optional_formats()
    if isinstance(path, str | Path):
        path = Path(path)
        label = str(path)
    else:
        label = str(getattr(path, "name", _("the uploaded image")))
    try:
        head = _head(path)
        if raw.has_raw_magic(head) or raw.is_raw_name(label):
            try:
                return raw.open_raw(path, label, draft_short_side)
            except ImageLoadError:
                if raw.has_raw_magic(head) or raw.is_tiff(head):
                    raise  # RAW by content: Pillow would at best decode its tiny first thumbnail
                # A RAW suffix on another format's content (a JPEG renamed .dng): Pillow's turn.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.format == "TIFF" and raw.is_dng(image):
                    return raw.open_raw(path, label, draft_short_side)  # a DNG named .tif
                full_size = image.size
                if draft_short_side and image.format == "JPEG" and min(image.size) > draft_short_side:
                    # DCT scaling: decode at 1/2..1/8 size, keeping the short side ≥ draft_short_side.
                    scale = draft_short_side / min(image.size)
                    image.draft(None, (math.ceil(image.width * scale), math.ceil(image.height * scale)))
                image.load()
                drafted_size = image.size
                seen = upright(image)
    except FileNotFoundError:
        raise ImageLoadError(_("{label}: no such file.").format(label=label), ImageProblem.VANISHED) from None
    except PermissionError:
        raise ImageLoadError(
            _("{label}: permission denied; check the file's read permission.").format(label=label),
            ImageProblem.PERMISSION_DENIED,
        ) from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageLoadError(
            _("{label}: image too large to decode safely ({exc}).").format(label=label, exc=exc), ImageProblem.TOO_LARGE
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageLoadError(_("{label}: not a readable image ({exc}).").format(label=label, exc=exc)) from None
    if seen.mode in HIGH_BIT_DEPTH_MODES:
        seen = to_8bit(seen)
    turned = seen.size != drafted_size  # the EXIF orientation swapped width and height
    seen.info["full_size"] = full_size[::-1] if turned else full_size
    return seen


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
