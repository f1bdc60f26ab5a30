"""JPEG files -> the model's squares on a torch device: the GPU engine's decode stage (issue 14).

A build on an NVIDIA GPU is held back by decoding, not by the encoder: a 12-MP JPEG costs ~13 ms of
a CPU core even with DCT scaling, while the H100 encodes ViT-B/32-384 at tens of thousands of images
a second. So JPEGs are decoded by nvJPEG (torchvision.io.decode_jpeg with device="cuda") in batches,
and turned upright, centre-cropped and resized on the GPU, as close as torch gets to
search.clip.preprocess.square_pixels (PIL's bilinear with its antialiasing support on downscales).

What runs where:
- read_job (CPU threads): the file's bytes, the content hash of those bytes (the same blake2b as
  indexer.scan.content_hash), and from the header alone (no pixel decoding) the EXIF date, camera
  and orientation, and whether the GPU decoder should see the file at all (route).
- decode_jpegs (the device): a batch of byte strings -> (3, H, W) uint8 tensors; a batch the
  decoder refuses is retried file by file, so one bad file does not send its batch to the CPU.
- device_square (the device): upright, centre square, resize -> (3, R, R) uint8.

Everything else (PNG, HEIC, RAW, CMYK or lossless JPEGs, truncated files, files that vanished or
cannot be read, files the decoder refuses) goes to the CPU decode pool (indexer/decode.py), which
fails a bad file alone with its reason, exactly as a build without a GPU would.

The device is a parameter: on the CPU the same code runs in CI (torchvision's decode_jpeg decodes on
the CPU too; without torchvision, the "pillow" decoder stands in for it so that routing, orientation,
cropping and the engine's rows are still tested).
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from search.clip.config import ModelConfig
from search.clip.orientation import EXIF_ORIENTATION

from .decode import exif_facts
from .scan import HASH_CHUNK_BYTES

GPU_FORMATS = {"JPEG", "MPO"}  # MPO: a phone's multi-picture JPEG; its first picture is the photo
GPU_MODES = {"RGB", "L"}  # YCbCr and greyscale; CMYK/YCCK (4 components) go to the CPU
GPU_SOF_MARKERS = {0xC0, 0xC1, 0xC2}  # baseline, extended and progressive Huffman; not lossless or arithmetic
TRANSPOSED = {5, 6, 7, 8}  # EXIF orientations that swap width and height


@dataclass(frozen=True)
class JpegJob:
    """A JPEG read and checked on a CPU thread, waiting for the device decoder."""

    path: str
    data: bytes
    orientation: int  # EXIF 1..8 (anything else: 1)
    width: int  # upright size of the original
    height: int
    taken_at: datetime | None
    camera: str | None
    content_hash: str


@dataclass(frozen=True)
class ToCpu:
    """A file for the CPU decode pool, and why (for the tests and the benchmark's counts)."""

    path: str
    why: str


def bytes_hash(data: bytes) -> str:
    """indexer.scan.content_hash of a file whose bytes are already read (blake2b is stream-invariant)."""
    digest = hashlib.blake2b(digest_size=16)
    view = memoryview(data)
    for start in range(0, len(view), HASH_CHUNK_BYTES):  # hashlib drops the GIL on each chunk
        digest.update(view[start : start + HASH_CHUNK_BYTES])
    return digest.hexdigest()


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
        return None, "not a JPEG (or its markers are broken)"
    sof, first_scan = frame
    if sof not in GPU_SOF_MARKERS:
        return None, f"JPEG coding 0x{sof:02X} (lossless or arithmetic)"
    # FFD9 cannot occur inside entropy-coded data (0xFF is stuffed), so none after the first scan
    # means the file was cut short: Pillow refuses it, nvJPEG might return a half-grey picture.
    if data.rfind(b"\xff\xd9", first_scan) < 0:  # from the end: the marker is there, in a whole file
        return None, "truncated JPEG (no end-of-image marker)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            header = Image.open(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - the CPU pool words the failure
        return None, f"header unreadable ({type(exc).__name__})"
    if header.format not in GPU_FORMATS:
        return None, f"format {header.format}"
    if header.mode not in GPU_MODES:
        return None, f"mode {header.mode}"
    return header, None


def orientation_of(header: Image.Image) -> int:
    try:
        value = header.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block costs the orientation, as in Pillow's exif_transpose
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


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
        taken_at, camera = exif_facts(header)
        width, height = header.size
    if orientation in TRANSPOSED:
        width, height = height, width
    return JpegJob(path, data, orientation, width, height, taken_at, camera, bytes_hash(data))


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
        raise RuntimeError("torchvision is not installed (pip install torchvision, the build matching torch)")
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


def upright(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """(C, H, W) as stored -> as seen (EXIF orientation, search.clip.orientation.UPRIGHT's transpositions)."""
    if orientation == 2:  # FLIP_LEFT_RIGHT
        return image.flip(2)
    if orientation == 3:  # ROTATE_180
        return image.flip(1, 2)
    if orientation == 4:  # FLIP_TOP_BOTTOM
        return image.flip(1)
    if orientation == 5:  # TRANSPOSE
        return image.transpose(1, 2)
    if orientation == 6:  # ROTATE_270: a quarter turn clockwise
        return image.rot90(-1, (1, 2))
    if orientation == 7:  # TRANSVERSE
        return image.transpose(1, 2).flip(1, 2)
    if orientation == 8:  # ROTATE_90: a quarter turn anticlockwise
        return image.rot90(1, (1, 2))
    return image


def device_square(image: torch.Tensor, orientation: int, resolution: int) -> torch.Tensor:
    """(3, H, W) uint8 as decoded -> (3, R, R) uint8: upright, centred square with the reference's
    floor offsets, bilinear resize with antialiasing (PIL's filter support widens on a downscale the
    same way), rounded like PIL's 8-bit output."""
    image = upright(image, orientation)
    _, height, width = image.shape
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


def normalized(squares: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """(N, 3, R, R) uint8 -> float32 (N, 3, R, R): ToTensor's /255, then Normalize, on the squares' device."""
    mean = torch.tensor(config.mean, device=squares.device).view(1, 3, 1, 1)
    std = torch.tensor(config.std, device=squares.device).view(1, 3, 1, 1)
    return (squares.float() / 255.0 - mean) / std


# ---- how many images a batch holds ------------------------------------------------------------------

_BYTES = {torch.float32: 4, torch.float16: 2, torch.bfloat16: 2}
MAX_BATCH = 512  # beyond this the encoder is no faster per image and the pipeline's latency grows
MEMORY_SHARE = 0.5  # of the free GPU memory: the allocator's fragmentation and cuDNN/cuBLAS workspaces need room


def bytes_per_image(config: ModelConfig, precision: torch.dtype, megapixels: float) -> int:
    """A conservative estimate of the device memory one image of a batch holds at its peak.

    Decoding: the decoded picture (3 bytes a pixel), its upright copy (a rotation copies), and the
    float32 square the resize reads (the crop of a 4:3 picture is 3/4 of it, 4 bytes a sample).
    Encoding, in `precision` (autocast): the vision transformer's widest moment, the residual stream
    plus the MLP's 4x hidden layer plus attention's q, k, v, output and scores (heads x T x T),
    twice for the allocator's overlap between layers, plus the float32 input.
    """
    element = _BYTES.get(precision, 4)
    pixels = megapixels * 1e6
    decode = pixels * 3 * 2 + pixels * 0.75 * 3 * 4
    tokens = (config.image_resolution // config.vision_patch_size) ** 2 + 1
    width, heads = config.vision_width, config.vision_heads
    layer = element * tokens * width * (1 + 4 + 4) + element * heads * tokens * tokens
    encode = 2 * layer + 4 * 3 * config.image_resolution**2
    return int(decode + encode)


def batch_size_for(
    free_bytes: int, config: ModelConfig, precision: torch.dtype, megapixels: float = 12.0, most: int = MAX_BATCH
) -> int:
    """The batch size for `free_bytes` of free device memory: MEMORY_SHARE of it over
    bytes_per_image, rounded down to a multiple of 8 (tensor-core tiles) when at least 8, within 1..most."""
    fits = int(free_bytes * MEMORY_SHARE // bytes_per_image(config, precision, megapixels))
    if fits >= 8:
        fits -= fits % 8
    return max(1, min(most, fits))
