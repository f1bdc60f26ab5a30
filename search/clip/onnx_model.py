"""`OnnxRuClip`: a ruCLIP checkpoint's exported towers run by ONNX Runtime, without torch.

It answers as `RuClip` does for what a CPU build and a search ask of a model (unit vectors of
uint8 squares, images and texts; its name, folder, fingerprint, logit scale), so the engines, the
label stage and `PhotoIndex` take either. The towers are exported from the torch network once per
weights file (search/clip/onnx_export.py); parity with it is tested (tests/test_onnx.py).
Each tower's session is made on first use: a text search never loads the image tower.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from ..constants import CONFIG_FILE, EOS_ID, TOKENIZER_FILE
from ..i18n import _
from ..images.open import load_image
from ..images.square import square_pixels
from .config import ModelConfig
from .hub import loaded_name
from .onnx_files import OnnxFiles, can_export
from .tokenizer import Tokenizer

log = logging.getLogger(__name__)
ImageInput = Image.Image | str | os.PathLike[str]
TEXT_BATCH = 64
IMAGE_BATCH = 32


@dataclass(frozen=True)
class HostDevice:
    """What `RuClip.device` says, for code that asks where a model runs (always this CPU)."""

    type: str = "cpu"

    def __str__(self) -> str:
        return self.type


class OnnxRuClip:
    """A model whose towers ONNX Runtime runs on this CPU; thread-safe for encoding."""

    text_precision = "fp32"
    device = HostDevice()

    def __init__(
        self,
        files: OnnxFiles,
        *,
        name: str,
        folder: Path,
        fingerprint: str,
        image_precision: str = "fp32",
        threads: int | None = None,
    ):
        self.files, self.name, self.folder, self.fingerprint = files, name, folder, fingerprint
        self.image_precision = image_precision  # "int8": the quantized image tower (search/clip/onnx_quantize.py)
        self.precision = f"{image_precision} (onnxruntime)"
        self.threads = threads or os.cpu_count() or 1  # one intra-op thread per core, as rclip does
        self.config = ModelConfig.from_file(folder / CONFIG_FILE)
        self.tokenizer = Tokenizer(folder / TOKENIZER_FILE, self.config.context_length, self.config.vocab_size)
        self._facts = files.facts()
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    @cached_property
    def logit_scale(self) -> float:
        return float(self._facts["logit_scale"])

    def __repr__(self) -> str:
        return f"OnnxRuClip(name={self.name!r}, threads={self.threads}, dim={self.embed_dim})"

    def session(self, tower: str) -> Any:
        """The ONNX Runtime session of the "image" or "text" tower, made on first use."""
        if tower == "image":
            return self._session(self.files.image_path_for(self.image_precision))
        return self._session(self.files.text_path)

    def _session(self, path: Path) -> Any:
        with self._lock:
            session = self._sessions.get(path.name)
            if session is None:
                import onnxruntime

                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
                options.log_severity_level = 3  # warnings about unused initialisers are not the user's
                # Threads that sleep when idle: a build's decoding processes need the cores they would spin on.
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                self._sessions[path.name] = session
            return session

    def encode_squares(self, squares: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """(N, R, R, 3) uint8 squares from search.images.square_pixels -> (N, embed_dim) unit rows."""
        if len(squares) == 0:
            return np.empty((0, self.embed_dim), dtype=np.float32)
        session = self.session("image")
        return session.run(None, {"squares": np.ascontiguousarray(squares, dtype=np.uint8)})[0]

    def encode_token_ids(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """(N, context_length) ids -> (N, embed_dim) unit rows; cut after the last eos, as the network does."""
        length = int((ids == EOS_ID).argmax(axis=1).max()) + 1
        session = self._session(self.files.text_path)
        return session.run(None, {"ids": np.ascontiguousarray(ids[:, :length])})[0]

    def encode_texts(self, texts: Sequence[str] | str, batch_size: int = TEXT_BATCH) -> npt.NDArray[np.float32]:
        """Texts -> np.float32 (N, embed_dim), rows L2-normalised (batched by length, as RuClip does)."""
        ids = self.tokenizer.encode_ids(texts)
        out = np.empty((len(ids), self.embed_dim), dtype=np.float32)
        order = np.argsort((ids != 0).sum(axis=1), kind="stable")
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self.encode_token_ids(ids[rows])
        return out

    def encode_images(
        self, images: Sequence[ImageInput] | ImageInput, batch_size: int = IMAGE_BATCH
    ) -> npt.NDArray[np.float32]:
        """PIL images or image paths (opened upright) -> np.float32 (N, embed_dim) unit rows."""
        if isinstance(images, (Image.Image, str, os.PathLike)):
            images = [images]
        resolution = self.config.image_resolution
        out = np.empty((len(images), self.embed_dim), dtype=np.float32)
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size]
            squares = [
                square_pixels(item if isinstance(item, Image.Image) else load_image(item), resolution) for item in batch
            ]
            out[start : start + len(batch)] = self.encode_squares(np.stack(squares))
        return out


def load_onnx_model(
    requested: str, folder: Path, fingerprint: str, tower: str, *, export: bool = True, precision: str = "fp32"
) -> OnnxRuClip | None:
    """The model in `folder` (weights `fingerprint`) on ONNX Runtime, its `tower` ("image" or
    "text") ready, the image tower in `precision` ("fp32"; "int8", quantized on first use); None
    when it cannot be had (not exported and `export` is False or the onnx package is missing, or
    the export or the quantization failed): the caller loads the torch model instead.

    A file that ONNX Runtime cannot read (cut short, damaged) is made again when `export`."""
    config = ModelConfig.from_file(folder / CONFIG_FILE)
    files = OnnxFiles.for_weights(fingerprint, config.image_resolution)
    image_precision = "int8" if precision == "int8" else "fp32"
    for attempt in ("as found", "made again"):
        again = attempt == "made again"
        to_export = again or not files.complete()
        to_quantize = image_precision == "int8" and (again or not files.image_int8_path.is_file())
        if (to_export or to_quantize) and not (export and can_export()):
            return None
        if to_export or to_quantize:  # a pause the user would otherwise not understand
            log.warning(_("preparing the model %s for this CPU, once per model (up to a minute)…"), folder)
        if to_export:
            from .onnx_export import export_checkpoint  # torch: only the first time a model is used

            try:
                export_checkpoint(folder, files)
            except (RuntimeError, OSError, ValueError) as exc:  # a full disk, an exporter that refuses
                log.warning(_("could not export %s for ONNX Runtime (%s); encoding with torch"), folder, exc)
                return None
        if to_quantize:
            from .onnx_quantize import quantize_image_tower

            try:
                quantize_image_tower(files)
            except Exception as exc:  # noqa: BLE001 - the quantizer's own errors: torch's int8 still serves
                log.warning(_("could not quantize %s to int8 for ONNX Runtime (%s); encoding with torch"), folder, exc)
                return None
        model = OnnxRuClip(
            files,
            name=loaded_name(requested, folder),
            folder=folder,
            fingerprint=fingerprint,
            image_precision=image_precision,
        )
        try:
            model.session(tower)
        except Exception as exc:  # onnxruntime's own error types: a damaged or truncated file
            log.warning(_("%s could not be loaded (%s); making it again"), files.folder, exc)
            continue
        return model
    return None
