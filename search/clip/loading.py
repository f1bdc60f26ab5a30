"""Which runtime encodes: a model's ONNX Runtime towers on this CPU when they serve the precision
asked for, else the torch network. One rule for the query side (`search.load_search_model`, an
index's own model) and for `evaluate`; a build takes the same rule from indexer/model_choice.py,
which knows the weights' fingerprint beforehand.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .folder import file_fingerprint, find_weights
from .hub import requested_model, resolve_model
from .onnx_files import onnx_runtime_wanted

if TYPE_CHECKING:
    from .encoder import RuClip
    from .onnx_model import OnnxRuClip


def load_encoder(
    name: str | os.PathLike[str] | None,
    tower: str,
    *,
    device: str = "auto",
    precision: str = "auto",
    text_precision: str = "fp32",
    download: bool = True,
    fingerprint_of: Callable[[Path], str] = file_fingerprint,
) -> RuClip | OnnxRuClip:
    """The model `name` (None: $RUPHOTO_MODEL, else the default), its `tower` ("image" or "text")
    ready: on this CPU in fp32 or int8 (queries in fp32) its ONNX Runtime towers (exported, and
    quantized for int8, on first use; no torch import), else `load_model`'s torch network.
    `fingerprint_of(weights file)` names the weights: it hashes the file unless the caller knows it.
    A missing model raises ModelNotFoundError before torch is imported."""
    folder = resolve_model(name, download=download)
    if onnx_runtime_wanted(device, precision) and text_precision == "fp32":
        weights = find_weights(folder)
        if weights is not None:
            from .onnx_model import load_onnx_model

            fingerprint = fingerprint_of(weights)
            model = load_onnx_model(requested_model(name), folder, fingerprint, tower, precision=precision)
            if model is not None:
                return model
    from .encoder import load_model  # torch

    return load_model(name, device=device, precision=precision, text_precision=text_precision, download=download)
