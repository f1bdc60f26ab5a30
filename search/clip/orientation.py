"""EXIF orientation (tag 274): which transposition makes a picture upright.

Pillow's ImageOps.exif_transpose does this for a whole decoded image; the RAW decoder and the
page's small upload decoding turn pictures themselves (a preview, a reduced image) with this table.
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
