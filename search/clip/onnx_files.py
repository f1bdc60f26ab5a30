"""Where a model's ONNX towers live, and whether this process can run them (no torch, no onnxruntime).

The towers are exported once per weights file (search/clip/onnx_export.py, torch) into this
installation's cache and then run by ONNX Runtime (search/clip/onnx_model.py), which on a CPU
encodes the same vectors (within float rounding) faster than torch and starts without importing
torch at all. A folder is named by the weights' fingerprint, the image resolution and the export
format, so that other weights, another resolution or a changed export never reuse a stale file.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from ..settings import settings

# Raise when the exported graphs change (inputs, outputs, what is computed inside them).
EXPORT_FORMAT = 1
IMAGE_FILE = "image.onnx"
# The image tower with int8 weights, quantized from image.onnx on first use (search/clip/onnx_quantize.py);
# its weights are inside it (a quarter of the fp32 bytes).
IMAGE_INT8_FILE = "image-int8.onnx"
TEXT_FILE = "text.onnx"
ONNX_PRECISIONS = ("auto", "fp32", "int8")  # what ONNX Runtime serves; bf16 and fp16 stay with torch
FACTS_FILE = "facts.json"  # what the graphs cannot say: the logit scale, the sizes; written last


@dataclass(frozen=True)
class OnnxFiles:
    """One model's exported towers: image.onnx (uint8 squares -> unit vectors), text.onnx (token
    ids -> unit vectors) and facts.json, which is written last and so marks a finished export."""

    folder: Path

    @classmethod
    def for_weights(cls, fingerprint: str, image_resolution: int) -> OnnxFiles:
        name = f"{fingerprint[:32]}-r{image_resolution}-v{EXPORT_FORMAT}"
        return cls(settings().cache_dir / "onnx" / name)

    @property
    def image_path(self) -> Path:
        return self.folder / IMAGE_FILE

    @property
    def image_int8_path(self) -> Path:
        return self.folder / IMAGE_INT8_FILE

    def image_path_for(self, precision: str) -> Path:
        """The image tower's graph in `precision` ("fp32" or "int8")."""
        return self.image_int8_path if precision == "int8" else self.image_path

    @property
    def text_path(self) -> Path:
        return self.folder / TEXT_FILE

    @property
    def facts_path(self) -> Path:
        return self.folder / FACTS_FILE

    def complete(self) -> bool:
        graphs = (self.image_path, self.text_path)
        return self.facts_path.is_file() and all(p.is_file() and weights_file_of(p).is_file() for p in graphs)

    def facts(self) -> dict[str, float | int]:
        return json.loads(self.facts_path.read_text(encoding="utf-8"))


def weights_file_of(graph: Path) -> Path:
    """Where an exported graph keeps its weights (ONNX external data): image.onnx -> image.weights."""
    return graph.with_suffix(".weights")


def onnx_runtime_wanted(device: str, precision: str = "auto") -> bool:
    """Whether to encode with ONNX Runtime: fp32 or int8 on this machine's CPU, onnxruntime installed,
    and RUPHOTO_NO_ONNX not set. `device` "auto" counts as the CPU when no NVIDIA driver is loaded (the
    check costs no torch import; with a driver, torch decides as before)."""
    if not settings().onnx or precision not in ONNX_PRECISIONS or device not in ("auto", "cpu"):
        return False
    if device == "auto" and Path("/proc/driver/nvidia/version").exists():
        return False
    return importlib.util.find_spec("onnxruntime") is not None


def can_export() -> bool:
    """torch's ONNX exporter needs the onnx package (a build exports; a search only runs the files)."""
    return importlib.util.find_spec("onnx") is not None
