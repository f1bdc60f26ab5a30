"""The reference's centre square: an upright picture -> the model's uint8 (R, R, 3) input, before normalisation.

ruclip 0.0.2 takes RandomResizedCrop(scale=1, ratio=1) of an RGB picture: the largest centred
square with floor offsets, PIL bilinear resize. The decoding workers send these 8-bit squares to
the encoder (4× smaller than floats); search/clip/preprocess.py normalises them for the network,
and device.py's device_square is the same on a torch device.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image


def center_square(image: Image.Image) -> Image.Image:
    """Crop the largest centred square, with the reference's floor offsets."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def square_pixels(image: Image.Image, resolution: int) -> npt.NDArray[np.uint8]:
    """PIL image of any mode -> uint8 (R, R, 3): RGB, centre square, PIL bilinear resize."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    square = center_square(image).resize((resolution, resolution), Image.Resampling.BILINEAR)
    return np.asarray(square, dtype=np.uint8)
