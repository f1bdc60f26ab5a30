"""Helpers for tests and benchmarks: random-weight checkpoints in the published format, and the
reference implementation (ruclip 0.0.2) to compare against. Nothing here downloads anything."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import torch

from .checkpoint import save_checkpoint
from .config import ModelConfig
from .model import CLIP


def random_network(config: ModelConfig, seed: int = 0) -> CLIP:
    """A CLIP whose every tensor is random (biases and layer norms too), so that a wrong key,
    a swapped projection or a dropped bias changes the output. Scales keep activations sane
    through 24 layers: weights ~ N(0, 1/fan_in), biases and norm offsets small."""
    generator = torch.Generator().manual_seed(seed)
    network = CLIP(config)
    with torch.no_grad():
        for name, tensor in network.state_dict().items():
            noise = torch.randn(tensor.shape, generator=generator)
            if name.endswith("logit_scale"):
                value = torch.full_like(tensor, 4.6052)
            elif ".ln_" in name or name.startswith("ln_"):
                value = (1.0 if name.endswith("weight") else 0.0) + 0.1 * noise
            elif name.endswith("bias"):
                value = 0.02 * noise
            elif tensor.ndim >= 2 and "embedding" not in name:
                fan_in = tensor.shape[0] if name.endswith(("proj", "projection")) else tensor[0].numel()
                value = noise / fan_in**0.5
            else:  # class, positional and token embeddings
                value = 0.1 * noise
            tensor.copy_(value)
    return network.eval()


def make_random_checkpoint(folder: Path, config: ModelConfig, bpe_model: Path, seed: int = 0) -> Path:
    """Write a random-weight checkpoint for `config` into `folder` (config.json, pytorch_model.bin, bpe.model)."""
    return save_checkpoint(Path(folder), random_network(config, seed), Path(bpe_model))


def reference_model_module() -> ModuleType | None:
    """ruclip 0.0.2's model.py as a module, or None when ruclip is not installed.

    `import ruclip` fails on current huggingface_hub (its __init__ imports the removed
    `cached_download`), so model.py is loaded by file path. Install: pip install --no-deps ruclip==0.0.2
    """
    name = "ruclip_reference_model"
    if name in sys.modules:
        return sys.modules[name]
    package = importlib.util.find_spec("ruclip")  # locates the package without running its __init__
    if package is None or not package.submodule_search_locations:
        return None
    path = Path(next(iter(package.submodule_search_locations))) / "model.py"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
