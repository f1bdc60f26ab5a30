"""A photo -> small JPEG bytes to show: the page's thumbnails and large previews, rendered.

Where thumbnails are kept is search/store/thumbnails.py's (the index folder's disk cache); which
files the page may read is the page's own rule (ui/thumbnails.py).
"""

from __future__ import annotations

import io

from PIL import Image

from .open import load_image

THUMBNAIL_PX = 384  # long side: sharp in a 4-column grid on a 1440-px wide page
PREVIEW_PX = 1600  # long side of the large view
JPEG_QUALITY = 85


def render_jpeg(path: str, long_side: int) -> bytes:
    """The file decoded upright (EXIF orientation), shrunk to `long_side`, encoded as JPEG.
    Raises ImageLoadError naming the file when it cannot be decoded."""
    return jpeg_of(load_image(path, draft_short_side=long_side), long_side)  # JPEGs decode at 1/2..1/8 scale


def jpeg_of(image: Image.Image, long_side: int = THUMBNAIL_PX) -> bytes:
    """A decoded picture (any mode) as a JPEG no larger than `long_side`, e.g. an uploaded HEIC to show back."""
    if image.mode in ("RGBA", "LA", "P", "PA"):  # transparency: flatten on white, as viewers do
        image = image.convert("RGBA")
        flat = Image.new("RGB", image.size, "white")
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    image = image.convert("RGB")
    image.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()
