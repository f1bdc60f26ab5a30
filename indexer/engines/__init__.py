"""Engines: the decode and encode stages of a build, run somewhere, handing batches of store records
to the driver's index writer.

- local.py: decoding worker processes on this machine, the model in the build's own process (the
  default; what a laptop runs).
- cluster.py: a Ray Data pipeline (`build --ray`): decoding and encoding actor pools across a
  cluster, streamed back to this process.

Scan, plan and write stay in the build (indexer/build.py) whatever the engine: one process plans
against SQLite and one writer commits, so every engine gives the same index.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # encode.py imports torch: an unchanged re-run, which never gets here, must not
    from ..encode import KnownVectors, Row
    from ..scan import FoundFile
    from ..stages import StageTimes

DEFAULT_BATCH_SIZE = 32  # images per encoder batch on the CPU and on a cluster (a GPU sizes its own)


class Engine(Protocol):
    def row_batches(self, work: list[FoundFile], known: KnownVectors, stages: StageTimes) -> Iterator[list[Row]]:
        """Decode and encode `work`, yielding the store records batch by batch (every file once:
        indexed or failed with its reason), and recording each stage's busy time in `stages`."""
        ...
