"""The model's pixels, exactly as ruclip 0.0.2 (torchvision RandomResizedCrop(scale=1, ratio=1),
ToTensor, Normalize): the centre square from search.images, normalised for the network here."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from PIL import Image

from ..images.square import square_pixels

if TYPE_CHECKING:
    import torch


def normalize_pixels(
    squares: npt.NDArray[np.uint8], mean: tuple[float, ...], std: tuple[float, ...]
) -> npt.NDArray[np.float32]:
    """uint8 (..., R, R, 3) -> float32 (..., 3, R, R): ToTensor's /255, then Normalize."""
    pixels = squares.astype(np.float32) / np.float32(255.0)
    pixels = (pixels - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(np.moveaxis(pixels, -1, -3))


def normalize_device_squares(squares: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """(N, 3, R, R) uint8 -> float32 (N, 3, R, R): ToTensor's /255, then Normalize, on the squares' device."""
    import torch  # here, so that decoding workers importing this module do not load torch

    mean_ = torch.tensor(mean, device=squares.device).view(1, 3, 1, 1)
    std_ = torch.tensor(std, device=squares.device).view(1, 3, 1, 1)
    return (squares.float() / 255.0 - mean_) / std_


def preprocess_image(
    image: Image.Image, resolution: int, mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    """PIL image of any mode -> FloatTensor (3, R, R) with the reference's exact values."""
    import torch  # here, so that decoding workers importing this module do not load torch

    return torch.from_numpy(normalize_pixels(square_pixels(image, resolution), mean, std))
