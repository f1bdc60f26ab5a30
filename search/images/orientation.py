"""EXIF orientation (tag 274): which transposition makes a picture upright, and the one way to apply it.

Every decoder turns pictures with this table: a whole decoded file (open.py), a RAW's preview
(raw.py), the page's reduced upload (uploads.py), and on a torch device the GPU engine's JPEGs
(device.py maps each transposition to its tensor operation).
"""

from __future__ import annotations

from PIL import Image

EXIF_ORIENTATION = 0x0112
UPRIGHT = {  # orientation value -> the transposition that undoes it (EXIF 2.3)
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
TRANSPOSED = frozenset({5, 6, 7, 8})  # orientations that swap width and height


def orientation_of(image: Image.Image) -> int:
    """The EXIF orientation of an opened image (header only), 1 when absent, out of range or unreadable."""
    try:
        value = image.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block costs the orientation, never the photo
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def upright_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """(width, height) as stored -> as seen."""
    return (size[1], size[0]) if orientation in TRANSPOSED else size


def upright(image: Image.Image, orientation: int | None = None) -> Image.Image:
    """A loaded image -> a new image as seen: transposed by `orientation` (read from the image's
    EXIF when None). The result's EXIF no longer holds the orientation, so nothing turns it twice."""
    if orientation is None:
        orientation = orientation_of(image)
    method = UPRIGHT.get(orientation)
    if method is None:
        return image.copy()  # a new image either way: the caller may close the one it opened
    turned = image.transpose(method)  # keeps image.info, EXIF bytes included
    try:
        exif = turned.getexif()
        if EXIF_ORIENTATION in exif:
            del exif[EXIF_ORIENTATION]
            if "exif" in turned.info:
                turned.info["exif"] = exif.tobytes()
    except Exception:  # noqa: BLE001 - a broken EXIF block stays as it was; the pixels are upright
        pass
    return turned
