"""Helpers for tests and benchmarks: random-weight checkpoints in the published format, and the
reference implementation (ruclip 0.0.2) to compare against. Nothing here downloads anything."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch

from .clip.checkpoint import save_checkpoint
from .clip.config import ModelConfig
from .clip.model import CLIP


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


def clustered_unit_vectors(count: int, dim: int, clusters: int = 1000, spread: float = 0.6, seed: int = 0):
    """Synthetic embeddings shaped like photo collections: unit vectors around `clusters` centres
    (bursts of similar shots), for benchmarks and approximate-vs-exact tests."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = np.empty((count, dim), dtype=np.float32)
    for start in range(0, count, 100_000):  # in chunks: 1 M × 512 floats of noise at once is 2 GB more
        stop = min(count, start + 100_000)
        noise = rng.standard_normal((stop - start, dim)).astype(np.float32) * (spread / dim**0.5)
        vectors[start:stop] = centres[rng.integers(0, clusters, stop - start)] + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


@dataclass(frozen=True)
class _SyntheticFile:
    path: str
    size: int = 1
    mtime_ns: int = 1


def write_synthetic_index(folder: Path, vectors, *, model_name: str, fingerprint: str, folders: int = 4) -> None:
    """An index folder with one metadata row per vector (paths spread over `folders` album folders,
    dates over 2020-2024), as `python -m indexer build` would leave it, without any image files."""
    from datetime import datetime, timedelta

    from .images.facts import PhotoFacts
    from .store import IndexedImage, IndexStore, ModelRecord
    from .store.layout import IndexKind
    from .store.vectors import build_from_sqlite, save_vectors

    store = IndexStore(folder, create=True)
    dim = int(vectors.shape[1])
    store.record_model(ModelRecord(model_name, fingerprint, dim))
    root = store.add_root(Path("/photos"))
    start = datetime(2020, 1, 1)
    for chunk in range(0, len(vectors), 50_000):
        store.add_new_images(
            root,
            [
                IndexedImage(
                    _SyntheticFile(f"/photos/album_{i % folders}/IMG_{i:07d}.jpg"),
                    vectors[i],
                    PhotoFacts(
                        width=4000,
                        height=3000,
                        taken_at=start + timedelta(hours=int(i * 43_800 // max(len(vectors), 1))),
                        camera=None,
                        content_hash=f"{i:032x}",
                    ),
                )
                for i in range(chunk, min(len(vectors), chunk + 50_000))
            ],
        )
    save_vectors(folder, store, build_from_sqlite(store, dim, IndexKind.for_count(len(vectors))))
    store.record_build_finished()
    store.close()
