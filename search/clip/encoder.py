"""The public model object: tokenize, preprocess and encode texts and images into unit vectors."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from PIL import Image

from ..constants import CONFIG_FILE, TEXT_PRECISIONS, TOKENIZER_FILE
from ..errors import RuClipError
from ..i18n import _
from ..images.open import load_image
from .checkpoint import load_network
from .config import ModelConfig
from .folder import file_fingerprint
from .hub import loaded_name, requested_model, resolve_model
from .model import CLIP
from .prepack import pack_text_tower
from .preprocess import normalize_device_squares, normalize_pixels, preprocess_image
from .runtime import keep_freed_memory_for_reuse
from .tokenizer import Tokenizer

log = logging.getLogger(__name__)

ImageInput = Image.Image | str | os.PathLike[str]
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "int8": torch.qint8}
# Texts are sorted by length and encoded in batches this size, each cut to its own longest text:
# on benchmarks/encode.py, 256 short queries ran at 4.9x the reference in one batch and 5.4-6.3x in
# batches of 64 (separate runs on a noisy 2-core machine, so the gain is approximate).
DEFAULT_TEXT_BATCH = 64
DEFAULT_IMAGE_BATCH = 32


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> CUDA when present, else CPU; anything else must be usable here."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError as exc:
        raise RuClipError(
            _("Unknown device {device!r} ({exc}); use auto, cpu or cuda.").format(device=device, exc=exc)
        ) from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise RuClipError(_("Device 'cuda' was requested but no CUDA GPU is visible; use --device cpu or auto."))
    return chosen


def pick_precision(precision: str, device: torch.device) -> torch.dtype:
    """'auto' -> fp16 autocast on CUDA, exact fp32 elsewhere."""
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if precision not in _DTYPES:
        raise RuClipError(
            _("Unknown precision {precision!r}; use auto, {join}.").format(precision=precision, join=", ".join(_DTYPES))
        )
    if precision == "int8" and device.type != "cpu":
        raise RuClipError(_("Precision int8 is a CPU mode; on a GPU use fp16 or bf16."))
    return _DTYPES[precision]


def _quantized_linears(module: torch.nn.Module, *, per_channel: bool) -> torch.nn.Module:
    """The module with its Linear layers in int8 (weights) and dynamic int8 activations."""
    import warnings

    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError as exc:
        raise RuClipError(_("Precision int8 needs torch.ao.quantization ({exc}); use fp32.").format(exc=exc)) from None
    spec = {torch.nn.Linear: per_channel_dynamic_qconfig} if per_channel else {torch.nn.Linear}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its deprecation notice points to torchao; it still works here
        return quantize_dynamic(module, spec, dtype=torch.qint8)


def quantize_image_tower(network: CLIP) -> CLIP:
    """int8 weights with dynamic activation scales for the ViT's MLP and attention output layers.

    Opt-in CPU speed-up for indexing on machines without native bf16: those layers are ~75% of the
    ViT's multiply-adds. Not exact: image cosine to fp32 ≥ 0.999 is checked in the tests and the
    benchmark.
    """
    network.visual = _quantized_linears(network.visual, per_channel=False)
    return network


def quantize_text_tower(network: CLIP) -> CLIP:
    """int8 weights (one scale per output channel) for the text transformer's Linear layers.

    Encoding one short query on a CPU is bound by reading the text tower's weights (150 MB in fp32
    for ViT-B/32-384: ~25 ms on 2 cores even prepacked; a quarter of the bytes in int8: ~15 ms).
    Not exact: text cosine to fp32 ≥ 0.998 (tests, BENCHMARKS.md), so it is a query-time option,
    never used to build an index.
    """
    network.transformer = _quantized_linears(network.transformer, per_channel=True)
    return network


class RuClip:
    """A loaded ruCLIP checkpoint. Thread-safe for encoding (no mutable state after load)."""

    def __init__(
        self,
        network: CLIP,
        tokenizer: Tokenizer,
        *,
        name: str,
        folder: Path,
        weights_path: Path,
        device: torch.device,
        precision: torch.dtype = torch.float32,
        text_precision: str = "fp32",
    ):
        self.network = network.to(device)
        self.tokenizer = tokenizer
        self.name = name
        self.folder = folder
        self.weights_path = weights_path
        self.device = device
        self.precision = precision
        self.text_precision = text_precision  # "int8": the text transformer is quantized (queries only)

    @property
    def config(self) -> ModelConfig:
        return self.network.config

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    @cached_property
    def logit_scale(self) -> float:
        """The temperature the model was trained with: cosines × this are its logits (zero-shot tags)."""
        return float(self.network.logit_scale.detach().float().exp().cpu())

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of the weights file (computed on first use: ~1 s for a 600 MB checkpoint)."""
        return file_fingerprint(self.weights_path)

    def __repr__(self) -> str:
        return (
            f"RuClip(name={self.name!r}, device={self.device}, precision={self.precision}, "
            f"text_precision={self.text_precision}, dim={self.embed_dim})"
        )

    # ---- inputs ---------------------------------------------------------------------------------

    def tokenize(self, texts: Sequence[str] | str) -> torch.Tensor:
        """Texts -> LongTensor (N, context_length), the reference's token ids."""
        return self.tokenizer.encode(texts)

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """PIL image -> FloatTensor (3, R, R), the reference's pixels (no EXIF rotation: see load_image)."""
        return preprocess_image(image, self.config.image_resolution, self.config.mean, self.config.std)

    def load_and_preprocess(self, image: ImageInput) -> torch.Tensor:
        """A PIL image, or a path opened upright with load_image -> FloatTensor (3, R, R)."""
        if not isinstance(image, Image.Image):
            image = load_image(image)
        return self.preprocess(image)

    # ---- encoders -------------------------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager[None]:
        if self.precision in (torch.float32, torch.qint8):
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.precision)

    def _unit_rows(self, features: torch.Tensor) -> npt.NDArray[np.float32]:
        return F.normalize(features.float(), dim=-1).cpu().numpy()

    @torch.inference_mode()
    def encode_token_ids(self, input_ids: torch.Tensor) -> npt.NDArray[np.float32]:
        """(N, context_length) ids -> (N, embed_dim) float32 unit rows, in one forward pass."""
        with self._autocast():
            features = self.network.encode_text(input_ids.to(self.device))
        return self._unit_rows(features)

    @torch.inference_mode()
    def encode_pixels(self, pixels: torch.Tensor) -> npt.NDArray[np.float32]:
        """(N, 3, R, R) preprocessed pixels -> (N, embed_dim) float32 unit rows, in one forward pass."""
        pixels = pixels.to(self.device, non_blocking=True)
        with self._autocast():
            features = self.network.encode_image(pixels)
        return self._unit_rows(features)

    def encode_squares(self, squares: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """(N, R, R, 3) uint8 squares from search.images.square_pixels -> (N, embed_dim) unit rows.

        The indexer's path: decoding workers send 8-bit squares; on a GPU they travel as uint8
        (4× less to copy) and are normalised there.
        """
        if self.device.type == "cpu":
            return self.encode_pixels(torch.from_numpy(normalize_pixels(squares, self.config.mean, self.config.std)))
        raw = torch.from_numpy(squares).to(self.device, non_blocking=True).permute(0, 3, 1, 2)  # (N, 3, R, R) uint8
        pixels = normalize_device_squares(raw, self.config.mean, self.config.std).contiguous()
        return self.encode_pixels(pixels)

    def encode_texts(self, texts: Sequence[str] | str, batch_size: int = DEFAULT_TEXT_BATCH) -> npt.NDArray[np.float32]:
        """Texts -> np.float32 (N, embed_dim), rows L2-normalised."""
        ids = self.tokenize(texts)
        out = np.empty((len(ids), self.embed_dim), dtype=np.float32)
        # Batch texts of similar length together, so each batch's context cut is as short as possible.
        order = torch.argsort((ids != 0).sum(dim=1), stable=True)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            out[rows.numpy()] = self.encode_token_ids(ids[rows])
        return out

    def encode_images(
        self, images: Sequence[ImageInput] | ImageInput, batch_size: int = DEFAULT_IMAGE_BATCH
    ) -> npt.NDArray[np.float32]:
        """PIL images or image paths -> np.float32 (N, embed_dim), rows L2-normalised.

        Paths are opened upright (EXIF orientation applied); a file that cannot be decoded raises
        ImageLoadError naming it. For whole folders use the indexer, which isolates bad files.
        """
        if isinstance(images, (Image.Image, str, os.PathLike)):
            images = [images]
        out = np.empty((len(images), self.embed_dim), dtype=np.float32)
        for start, batch in _chunks(images, batch_size):
            pixels = torch.stack([self.load_and_preprocess(item) for item in batch])  # (B, 3, R, R)
            out[start : start + len(batch)] = self.encode_pixels(pixels)
        return out


def _chunks(items: Sequence[ImageInput], size: int) -> Iterator[tuple[int, Sequence[ImageInput]]]:
    if size < 1:
        raise ValueError(f"batch_size must be at least 1, got {size}")
    for start in range(0, len(items), size):
        yield start, items[start : start + size]


def load_model(
    name_or_path: str | os.PathLike[str] | None = None,
    device: str | torch.device = "auto",
    precision: str = "auto",
    *,
    text_precision: str = "fp32",
    download: bool = True,
) -> RuClip:
    """Load a ruCLIP model by published name (e.g. 'ruclip-vit-base-patch32-384') or folder path.

    None means $RUPHOTO_MODEL (or $RUCLIP_MODEL), else the default model. `device`: auto | cpu | cuda[:N].
    `precision`: auto (fp16 autocast on CUDA, fp32 on CPU) | fp32 | fp16 | bf16 (autocast) |
    int8 (CPU only: int8 image tower, ~1.3x faster images, cosine to fp32 >= 0.999; texts stay exact).
    `text_precision`: fp32 (exact) | int8 (CPU only: int8 text transformer, ~1.6x faster short
    queries with ViT-B/32-384, cosine to fp32 >= 0.998; for searching, not for building indexes).
    """
    if text_precision not in TEXT_PRECISIONS:
        raise RuClipError(
            _("Unknown text precision {text_precision!r}; use {join}.").format(
                text_precision=text_precision, join=" or ".join(TEXT_PRECISIONS)
            )
        )
    requested = requested_model(name_or_path)
    folder = resolve_model(requested, download=download)
    config = ModelConfig.from_file(folder / CONFIG_FILE)
    tokenizer = Tokenizer(folder / TOKENIZER_FILE, config.context_length, config.vocab_size)
    network, weights_path = load_network(folder, config)
    chosen = pick_device(device)
    chosen_precision = pick_precision(precision, chosen)
    if chosen_precision == torch.qint8:
        network = quantize_image_tower(network)
    if text_precision == "int8":
        if chosen.type != "cpu" or chosen_precision not in (torch.float32, torch.qint8):
            raise RuClipError(
                _("Text precision int8 is a CPU mode with precision fp32 or int8; on a GPU, use fp16 for speed.")
            )
        network = quantize_text_tower(network)
    if chosen.type == "cpu":
        keep_freed_memory_for_reuse()
        if chosen_precision in (torch.float32, torch.qint8):  # the text tower runs in fp32 (or int8) here
            pack_text_tower(network)
    name = loaded_name(requested, folder)
    model = RuClip(
        network,
        tokenizer,
        name=name,
        folder=folder,
        weights_path=weights_path,
        device=chosen,
        precision=chosen_precision,
        text_precision=text_precision,
    )
    log.info("loaded %r", model)
    return model
