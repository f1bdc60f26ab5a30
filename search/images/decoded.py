"""What decoding a file gives: Decoded (its facts and the model's square) or Failed (a reason and a message).

The square is typed by where it lives: a HostSquare from the CPU decode (decode.py, in the
indexer's worker processes), a DeviceSquare from the GPU engine's decoder (device.py). Both are
uint8 and not yet normalised; the encoder takes either. No torch import: workers send Decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ..errors import ImageProblem
from .facts import PhotoFacts

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class HostSquare:
    """The model's centre square in host memory."""

    pixels: npt.NDArray[np.uint8]  # (R, R, 3), RGB


@dataclass(frozen=True)
class DeviceSquare:
    """The model's centre square on a torch device, where the GPU engine decoded it."""

    pixels: torch.Tensor  # (3, R, R) uint8, RGB, on the decoding device


@dataclass(frozen=True)
class Decoded:
    """A file decoded: what the index records of it and the picture the encoder takes."""

    path: str
    facts: PhotoFacts
    square: HostSquare | DeviceSquare


@dataclass(frozen=True)
class Failed:
    """A file that could not be decoded."""

    path: str
    reason: ImageProblem  # groups failures: "not a readable image", "too large", "timed out", ...
    detail: str  # the message naming the file
