"""Engines: the decode and encode stages of a build, run somewhere, handing batches of store records
to the driver's index writer.

- local.py: decoding worker processes on this machine, the model in the build's own process (the
  default; what a laptop runs).
- gpu.py: JPEGs decoded on the model's CUDA device (nvJPEG), the rest by local workers; chosen
  when the model runs on CUDA and torchvision can decode there.
- cluster.py: a Ray Data pipeline (`build --ray`): decoding and encoding actor pools across a
  cluster, streamed back to this process.

An engine is built from an EngineSpec (where and how to run) and the chosen model, never from the
build's options: scan, plan and write stay in the build (indexer/build.py) whatever the engine, so
one process plans against SQLite, one writer commits, and every engine gives the same index.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from search.constants import DECODE_TIMEOUT_S

if TYPE_CHECKING:  # encode.py imports torch: an unchanged re-run, which never gets here, must not
    from search.clip.encoder import RuClip

    from ..encode import KnownVectors, Row
    from ..model_choice import ModelChoice
    from ..scan import FoundFile
    from ..stages import StageTimes

DEFAULT_BATCH_SIZE = 32  # images per encoder batch on the CPU and on a cluster (a GPU sizes its own)


def default_workers() -> int:
    """Decoding processes when none are asked for: one per CPU core."""
    return max(1, os.cpu_count() or 1)


class EngineKind(StrEnum):
    LOCAL = "local"  # worker processes decode, the model encodes in this process
    GPU = "gpu"  # JPEGs decoded on the model's CUDA device, the rest by worker processes
    RAY = "ray"  # decoder and encoder actors on a Ray cluster


@dataclass(frozen=True)
class EngineSpec:
    """Where and how a build decodes and encodes: everything an engine is built from."""

    device: str = "auto"  # where the model runs: auto, cpu, cuda
    precision: str = "auto"  # how images are encoded (search.clip.encoder.load_model)
    workers: int = field(default_factory=default_workers)  # decoding processes on this machine
    batch_size: int | None = None  # images per encoder batch; None: DEFAULT_BATCH_SIZE, on a GPU from its memory
    fast_jpeg: bool = True  # DCT-scaled JPEG decoding (False: full size, bit-exact with the reference)
    timeout_s: float = DECODE_TIMEOUT_S  # seconds one file may take to decode
    ray_address: str | None = None  # "local", "auto" or "ray://host:10001": a Ray cluster; None: this machine

    def kind_for(self, model: RuClip | None) -> EngineKind:
        """RAY when a cluster is named; else GPU when the loaded `model` runs on CUDA and torchvision
        can decode there (the [gpu] extra), else LOCAL. Asking costs nothing on a CPU build: torch
        is imported by then, and torchvision only on CUDA."""
        if self.ray_address is not None:
            return EngineKind.RAY
        if model is None or model.device.type != "cuda":
            return EngineKind.LOCAL
        from search.images.device import gpu_decoding_available

        return EngineKind.GPU if gpu_decoding_available(model.device) else EngineKind.LOCAL


class Engine(Protocol):
    embed_dim: int  # the length of the vectors it hands over

    def row_batches(self, work: list[FoundFile], known: KnownVectors, stages: StageTimes) -> Iterator[list[Row]]:
        """Decode and encode `work`, yielding the store records batch by batch (every file once:
        indexed or failed with its reason), and recording each stage's busy time in `stages`."""
        ...


@contextmanager
def started_engine(spec: EngineSpec, choice: ModelChoice, load_model: Callable[[], RuClip]) -> Iterator[Engine]:
    """The engine `spec` names, for the length of the block. `load_model` loads the chosen network in
    this process; a Ray engine never calls it (its encoder actors load their own)."""
    if spec.ray_address is not None:
        from .cluster import RayEngine

        with RayEngine.started(spec, choice) as engine:
            yield engine
        return
    model = load_model()
    if spec.kind_for(model) is EngineKind.GPU:
        from .gpu import GpuEngine

        yield GpuEngine(model, spec.workers, spec.batch_size, fast_jpeg=spec.fast_jpeg, timeout_s=spec.timeout_s)
        return
    from .local import LocalEngine

    yield LocalEngine(model, spec.workers, spec.batch_size or DEFAULT_BATCH_SIZE, spec.fast_jpeg, spec.timeout_s)
