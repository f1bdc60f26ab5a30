"""A picture's print: the upright picture averaged down to 8 × 8 colour cells (192 bytes), what the
near-duplicate grouping compares beside the embedding (search/duplicates.py's print_distances).

The embedding says "the same subject"; the print says "the same picture": a resized, re-encoded,
brightened or slightly shifted copy keeps its cells, the same subject on another background or in
another framing does not. Measured against a 64-bit difference hash on the demo world (see
BENCHMARKS.md, "Near-duplicate groups"): a difference hash's bits flip on flat backgrounds (a
brightened copy up to 22 of 64 bits off while a hard negative can be 13 off); the cells' relative
difference keeps copies (≤ 0.05) and hard negatives (≥ 0.3) far apart. Hand-written with Pillow's box
resize: the `imagehash` package would bring scipy and PyWavelets to a laptop install, for no gain here.
Computed on the whole picture, not the model's centre square, which two framings of one subject share.
"""

from __future__ import annotations

from PIL import Image

PRINT_SIDE = 8  # cells per side; 8 × 8 × RGB = 192 bytes a photo


def picture_print(image: Image.Image) -> bytes:
    """The print of an upright picture of any mode: 8 × 8 RGB cell means, row by row, as bytes."""
    # A box filter straight to the grid: each cell is the mean of its pixels, so sensor noise and
    # JPEG blocks average out, and a JPEG decoded at reduced scale gives the same cells.
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image.resize((PRINT_SIDE, PRINT_SIDE), Image.Resampling.BOX).tobytes()
