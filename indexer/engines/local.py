"""The local engine: decoding worker processes on this machine, the model in this process.

The decode pool runs in a background thread, so workers keep decoding while the model encodes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from search.constants import DECODE_TIMEOUT_S

from ..decode import DecodePool, decoded_in_background
from ..encode import KnownVectors, Row, encode_batch
from ..scan import FoundFile
from ..stages import DECODE, ENCODE, StageTimes

if TYPE_CHECKING:
    from search.clip.encoder import RuClip
    from search.clip.onnx_model import OnnxRuClip


@dataclass
class LocalEngine:
    model: RuClip | OnnxRuClip  # the torch network, or its ONNX export on a CPU
    workers: int
    batch_size: int
    fast_jpeg: bool = True
    timeout_s: float = DECODE_TIMEOUT_S

    @property
    def embed_dim(self) -> int:
        return self.model.embed_dim

    def row_batches(self, work: list[FoundFile], known: KnownVectors, stages: StageTimes) -> Iterator[list[Row]]:
        files = {found.path: found for found in work}
        resolution = self.model.config.image_resolution
        with DecodePool(resolution, self.workers, fast_jpeg=self.fast_jpeg, timeout_s=self.timeout_s) as pool:
            decoded = decoded_in_background(pool, [found.path for found in work], depth=4 * self.batch_size)
            pending = []
            for result in decoded:
                pending.append(result)
                if len(pending) >= self.batch_size:
                    yield self._encoded(pending, files, known, stages)
                    pending = []
            if pending:
                yield self._encoded(pending, files, known, stages)
            _record_decoding(pool, stages)

    def _encoded(self, results, files, known, stages: StageTimes) -> list[Row]:
        started = time.perf_counter()
        rows = encode_batch(self.model, results, files, known)
        stages[ENCODE].add(len(rows), time.perf_counter() - started)
        return rows


def _record_decoding(pool: DecodePool, stages: StageTimes) -> None:
    clock = stages[DECODE]
    clock.images += pool.finished
    clock.busy_s += pool.busy_s
    clock.workers.update(f"decoder {number}" for number in range(pool.workers))
