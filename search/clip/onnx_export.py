"""A checkpoint's two towers -> ONNX files, once per weights file (torch and onnx needed).

Each graph ends in unit vectors, so ONNX Runtime hands back what `RuClip` returns: the image graph
takes the decoding workers' uint8 squares (N, R, R, 3) and normalises them itself (no float copy
of the batch in Python); the text graph takes token ids already cut after the batch's last eos
(search/clip/onnx_model.py cuts them, as `CLIP.encode_text` does), so its length axis is dynamic.
Each graph's weights are in a file beside it (`image.weights`, `text.weights`).
Files are written under a temporary name and renamed, facts.json last: a crash or a full disk
mid-export leaves no file that looks finished.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..constants import CONFIG_FILE, EOS_ID
from .checkpoint import load_network
from .config import ModelConfig
from .model import CLIP
from .onnx_files import EXPORT_FORMAT, OnnxFiles, weights_file_of

log = logging.getLogger(__name__)
_OPSET = 17


class _ImageGraph(nn.Module):
    def __init__(self, network: CLIP):
        super().__init__()
        config = network.config
        self.visual = network.visual
        self.register_buffer("mean", torch.tensor(config.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(config.std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, squares: torch.Tensor) -> torch.Tensor:  # (N, R, R, 3) uint8 -> (N, E) unit rows
        pixels = (squares.permute(0, 3, 1, 2).float() / 255.0 - self.mean) / self.std
        return F.normalize(self.visual(pixels), dim=-1)


class _TextGraph(nn.Module):
    def __init__(self, network: CLIP):
        super().__init__()
        self.network = network

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (N, T) ids, T ≤ context -> (N, E) unit rows
        net = self.network
        eos_positions = (ids == EOS_ID).int().argmax(dim=1)
        x = net.token_embedding(ids) + net.positional_embedding[: ids.shape[1]]
        x = net.ln_final(net.transformer.forward_at(x, eos_positions))
        return F.normalize(x @ net.text_projection, dim=-1)


def export_checkpoint(folder: Path, files: OnnxFiles) -> OnnxFiles:
    """Export the checkpoint in `folder` as `files`. The network is loaded afresh, as published: the
    CPU speed-ups a loaded `RuClip` carries (search/clip/prepack.py) are oneDNN calls no exporter reads."""
    network, _ = load_network(folder, ModelConfig.from_file(folder / CONFIG_FILE))
    return export_towers(network, files)


def export_towers(network: CLIP, files: OnnxFiles) -> OnnxFiles:
    """Write `network`'s towers as `files` (replacing an unfinished export); returns `files`."""
    config = network.config
    files.folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{files.folder.name}-", dir=files.folder.parent))
    try:
        squares = torch.zeros(2, config.image_resolution, config.image_resolution, 3, dtype=torch.uint8)
        ids = torch.zeros(2, 8, dtype=torch.long)
        ids[:, 0], ids[0, 7], ids[1, 4] = 2, EOS_ID, EOS_ID
        _export(_ImageGraph(network), squares, work / files.image_path.name, "squares", {0: "images"})
        _export(_TextGraph(network), ids, work / files.text_path.name, "ids", {0: "texts", 1: "tokens"})
        facts = {
            "format": EXPORT_FORMAT,
            "embed_dim": config.embed_dim,
            "image_resolution": config.image_resolution,
            "context_length": config.context_length,
            "logit_scale": float(network.logit_scale.detach().float().exp()),
        }
        (work / files.facts_path.name).write_text(json.dumps(facts), encoding="utf-8")
        for path in work.iterdir():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        if files.folder.exists():  # an unfinished export (no facts.json) of an earlier run
            shutil.rmtree(files.folder)
        os.replace(work, files.folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("exported the model's towers to %s", files.folder)
    return files


def _export(graph: nn.Module, example: torch.Tensor, path: Path, name: str, dynamic: dict[int, str]) -> None:
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's notes on Python ints in shapes: dynamic axes cover them
        torch.onnx.export(
            graph.eval(),
            (example,),
            str(path),
            input_names=[name],
            output_names=["vectors"],
            dynamic_axes={name: dynamic, "vectors": {0: dynamic[0]}},
            opset_version=_OPSET,
            dynamo=False,
        )
    _move_weights_beside(path)


def _move_weights_beside(path: Path) -> None:
    """Keep the graph's weights in a file of their own beside it (ONNX's external data): ONNX Runtime
    maps such a file instead of parsing it out of the graph, which halves a session's start."""
    import onnx

    model = onnx.load(str(path))
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=weights_file_of(path).name,
        size_threshold=1024,
    )
