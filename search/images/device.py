"""JPEG files -> the model's squares on a torch device: the GPU engine's decode (indexer/engines/gpu.py).

A build on an NVIDIA GPU is held back by decoding, not by the encoder: a 12-MP JPEG costs ~13 ms of
a CPU core even with DCT scaling, while the H100 encodes ViT-B/32-384 at tens of thousands of images
a second. So JPEGs are decoded by nvJPEG (torchvision.io.decode_jpeg with device="cuda") in batches,
and turned upright, centre-cropped and resized on the GPU, as close as torch gets to
square.square_pixels (PIL's bilinear with its antialiasing support on downscales).

What runs where:
- read_job (CPU threads): the file's bytes, and from the header alone (no pixel decoding) its
  PhotoFacts (facts.read_facts, the content hash of those bytes included) and orientation, and
  whether the GPU decoder should see the file at all (route).
- decode_jpegs (the device): a batch of byte strings -> (3, H, W) uint8 tensors; a batch the
  decoder refuses is retried file by file, so one bad file does not send its batch to the CPU.
- device_square (the device): upright (orientation.UPRIGHT's transpositions), centre square,
  resize -> (3, R, R) uint8.

Everything else (PNG, HEIC, RAW, CMYK or lossless JPEGs, truncated files, files that vanished or
cannot be read, files the decoder refuses) goes to the CPU decode (decode.decode_one in the
indexer's worker pool), which fails a bad file alone with its reason, exactly as a build without a
GPU would.

The device is a parameter: on the CPU the same code runs in CI (torchvision's decode_jpeg decodes on
the CPU too; without torchvision, the "pillow" decoder stands in for it so that routing, orientation,
cropping and the engine's rows are still tested).
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..i18n import _
from .facts import PhotoFacts, bytes_hash, read_facts
from .orientation import UPRIGHT, orientation_of, upright_size
from .picture_print import PRINT_SIDE

GPU_FORMATS = {"JPEG", "MPO"}  # MPO: a phone's multi-picture JPEG; its first picture is the photo
GPU_MODES = {"RGB", "L"}  # YCbCr and greyscale; CMYK/YCCK (4 components) go to the CPU
GPU_SOF_MARKERS = {0xC0, 0xC1, 0xC2}  # baseline, extended and progressive Huffman; not lossless or arithmetic


@dataclass(frozen=True)
class JpegJob:
    """A JPEG read and checked on a CPU thread, waiting for the device decoder."""

    path: str
    data: bytes
    orientation: int  # EXIF 1..8 (anything else: 1)
    facts: PhotoFacts


@dataclass(frozen=True)
class ToCpu:
    """A file for the CPU decode pool, and why (for the tests and the benchmark's counts)."""

    path: str
    why: str


def jpeg_frame(data: bytes) -> tuple[int, int] | None:
    """(SOF marker, offset of the first scan) of the main picture, walking the marker segments from
    SOI (so an EXIF thumbnail inside APP1 is skipped); None if the structure is broken."""
    if data[:2] != b"\xff\xd8":
        return None
    position, sof = 2, None
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame
            sof = marker
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            return (sof, position) if sof is not None else None
        position += 2 + length
    return None


def route(data: bytes) -> tuple[Image.Image | None, str | None]:
    """Pillow's lazy header view of `data` (no pixels decoded) and None if the GPU decoder should
    take it, or (maybe None, why) for the CPU pool."""
    frame = jpeg_frame(data)
    if frame is None:
        return None, _("not a JPEG (or its markers are broken)")
    sof, first_scan = frame
    if sof not in GPU_SOF_MARKERS:
        return None, _("JPEG coding 0x{sof:02X} (lossless or arithmetic)").format(sof=sof)
    # FFD9 cannot occur inside entropy-coded data (0xFF is stuffed), so none after the first scan
    # means the file was cut short: Pillow refuses it, nvJPEG might return a half-grey picture.
    if data.rfind(b"\xff\xd9", first_scan) < 0:  # from the end: the marker is there, in a whole file
        return None, _("truncated JPEG (no end-of-image marker)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            header = Image.open(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - the CPU pool words the failure
        return None, _("header unreadable ({name__})").format(name__=type(exc).__name__)
    if header.format not in GPU_FORMATS:
        return None, f"format {header.format}"
    if header.mode not in GPU_MODES:
        return None, f"mode {header.mode}"
    return header, None


def read_job(path: str) -> JpegJob | ToCpu:
    """Read one file on a CPU thread: a JpegJob for the device decoder, or ToCpu."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:  # vanished, permission: the CPU pool says so in its words
        return ToCpu(path, f"unreadable ({type(exc).__name__})")
    header, why = route(data)
    if header is None:
        return ToCpu(path, why or "")
    with header:
        orientation = orientation_of(header)
        facts = read_facts(header, upright_size(header.size, orientation), bytes_hash(data))
    return JpegJob(path, data, orientation, facts)


# ---- decoding on the device ------------------------------------------------------------------------


@cache
def torchvision_decode_jpeg() -> Callable | None:
    """torchvision.io.decode_jpeg, or None where torchvision is absent or does not load (a CUDA
    torchvision wheel beside a CPU torch fails on import with RuntimeError, not ImportError)."""
    try:
        from torchvision.io import decode_jpeg

        return decode_jpeg
    except Exception:  # noqa: BLE001
        return None


def gpu_decoding_available(device: torch.device) -> bool:
    """True where the GPU engine can run: CUDA is visible and torchvision's decode_jpeg loads."""
    return device.type == "cuda" and torch.cuda.is_available() and torchvision_decode_jpeg() is not None


def _as_tensor(data: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)  # a writable copy: frombuffer warns on bytes


def decode_jpegs(
    datas: Sequence[bytes], device: torch.device, decoder: str, *, pinned: bool = False
) -> list[torch.Tensor | None]:
    """JPEG byte strings -> (3, H, W) uint8 tensors on `device`, None for each file refused.

    decoder "torchvision": torchvision.io.decode_jpeg (nvJPEG on CUDA, libjpeg on the CPU), one
    batched call; when the batch fails, each file alone, so only the bad ones are None. `pinned`:
    the batch's bytes are laid end to end in one page-locked buffer (torch caches those), so the
    decoder's host-to-device copies run at full speed without staging.
    decoder "pillow": Pillow's full decode (no DCT scaling) then a copy to `device`: the stand-in
    where torchvision is absent (the CI's CPU machines), exercising everything after the decoder.
    """
    if decoder == "pillow":
        return [_pillow_decode(data, device) for data in datas]
    decode_jpeg = torchvision_decode_jpeg()
    if decode_jpeg is None:
        raise RuntimeError(_("torchvision is not installed (pip install torchvision, the build matching torch)"))
    from torchvision.io import ImageReadMode

    tensors = _pinned_views(datas) if pinned else [_as_tensor(data) for data in datas]
    try:
        return list(decode_jpeg(tensors, mode=ImageReadMode.RGB, device=device))
    except RuntimeError:
        pass  # one bad file fails the batch: find it
    out: list[torch.Tensor | None] = []
    for tensor in tensors:
        try:
            out.append(decode_jpeg(tensor, mode=ImageReadMode.RGB, device=device))
        except RuntimeError:
            out.append(None)
    return out


def _pinned_views(datas: Sequence[bytes]) -> list[torch.Tensor]:
    buffer = torch.empty(sum(len(data) for data in datas), dtype=torch.uint8, pin_memory=True)
    flat = buffer.numpy()
    views, start = [], 0
    for data in datas:
        flat[start : start + len(data)] = np.frombuffer(data, dtype=np.uint8)
        views.append(buffer[start : start + len(data)])
        start += len(data)
    return views


def _pillow_decode(data: bytes, device: torch.device) -> torch.Tensor | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            pixels = np.array(image.convert("RGB"))  # writable: torch.from_numpy warns on a read-only array
    except Exception:  # noqa: BLE001 - refused: the CPU pool words it
        return None
    return torch.from_numpy(pixels).permute(2, 0, 1).to(device)


# ---- upright, centre square, resize: square_pixels on the device ------------------------------------


# Each transposition of orientation.UPRIGHT as a tensor operation on (C, H, W).
_ON_TENSORS: dict[Image.Transpose, Callable[[torch.Tensor], torch.Tensor]] = {
    Image.Transpose.FLIP_LEFT_RIGHT: lambda image: image.flip(2),
    Image.Transpose.ROTATE_180: lambda image: image.flip(1, 2),
    Image.Transpose.FLIP_TOP_BOTTOM: lambda image: image.flip(1),
    Image.Transpose.TRANSPOSE: lambda image: image.transpose(1, 2),
    Image.Transpose.ROTATE_270: lambda image: image.rot90(-1, (1, 2)),  # a quarter turn clockwise
    Image.Transpose.TRANSVERSE: lambda image: image.transpose(1, 2).flip(1, 2),
    Image.Transpose.ROTATE_90: lambda image: image.rot90(1, (1, 2)),  # a quarter turn anticlockwise
}


def upright(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """(C, H, W) as stored -> as seen: orientation.UPRIGHT's transposition, on the tensor's device."""
    method = UPRIGHT.get(orientation)
    return image if method is None else _ON_TENSORS[method](image)


def device_square(image: torch.Tensor, orientation: int, resolution: int) -> torch.Tensor:
    """(3, H, W) uint8 as decoded -> (3, R, R) uint8: upright, centred square with the reference's
    floor offsets, bilinear resize with antialiasing (PIL's filter support widens on a downscale the
    same way), rounded like PIL's 8-bit output."""
    image = upright(image, orientation)
    _channels, height, width = image.shape
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = image[:, top : top + side, left : left + side]
    if side == resolution:
        return square.contiguous()
    # On the CPU torch resizes uint8 directly (its fast path rounds like PIL); CUDA's antialiased
    # kernel takes floats. float32, not half: 0..255 survive half, but its output rounding does not.
    source = square.unsqueeze(0) if square.device.type == "cpu" else square.unsqueeze(0).float()
    resized = F.interpolate(source, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True)
    if resized.dtype != torch.uint8:
        resized = resized.round_().clamp_(0, 255).to(torch.uint8)
    return resized[0]


def device_print(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """(3, H, W) uint8 as decoded -> (PRINT_SIDE, PRINT_SIDE, 3) uint8: picture_print.py's print of
    the upright picture (cell means), on the tensor's device; its bytes are the stored print."""
    cells = F.adaptive_avg_pool2d(upright(image, orientation).float().unsqueeze(0), (PRINT_SIDE, PRINT_SIDE))
    return cells[0].round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0)
