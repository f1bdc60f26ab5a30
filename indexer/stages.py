"""How busy each stage of a build was: the per-stage rates a build's summary reports.

Stages overlap (workers decode while the model encodes and the driver writes), so a build's wall
time says little about which stage holds the others back. Each stage instead counts the images it
handled and the seconds its workers spent on them; images per busy second is one worker's rate,
and that times the workers is what the stage could do if nothing else waited. The slowest stage
is the one to give more cores, GPUs or machines.

One StageTimes serves every engine, filled the same way: the build's runner (indexer/build.py)
times the stages it runs itself (scan, plan, write); an engine records its own (read, decode,
encode), since only it knows which worker was busy when.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from search.i18n import N_, _, ngettext

SCAN, PLAN, READ, DECODE, ENCODE, WRITE, LABEL = "scan", "plan", "read", "decode", "encode", "write", "label"
OCR = "ocr"  # the text in photos, read after the labels (indexer/ocr.py)
# The order of the summary line: the data flow. A stage an engine adds under another name comes after these.
PIPELINE_ORDER = (SCAN, PLAN, READ, DECODE, ENCODE, WRITE, LABEL, OCR)
IMAGES_PER_S = N_("img/s")
# The others count images.
_UNITS = {SCAN: N_("files/s"), PLAN: N_("files/s"), WRITE: N_("rows/s"), LABEL: N_("photos/s")}


@dataclass
class StageClock:
    images: int = 0
    busy_s: float = 0.0
    workers: set[str] = field(default_factory=set)  # who did the work: "node/pid" names, or "driver"
    nodes: set[str] = field(default_factory=set)  # the machines they ran on (a cluster's node ids)

    def add(self, images: int, seconds: float, worker: str = "driver", node: str = "") -> None:
        self.images += images
        self.busy_s += seconds
        self.workers.add(worker)
        if node:
            self.nodes.add(node)

    @property
    def per_worker_rate(self) -> float:
        """Images per second of one worker while it was busy."""
        return self.images / self.busy_s if self.busy_s > 0 else 0.0

    @property
    def capacity(self) -> float:
        """Images per second of the stage's workers together, had none of them waited."""
        return self.per_worker_rate * max(1, len(self.workers))


@dataclass
class Counted:
    items: int = 0


@dataclass
class StageTimes:
    clocks: dict[str, StageClock] = field(default_factory=dict)

    def __getitem__(self, stage: str) -> StageClock:
        return self.clocks.setdefault(stage, StageClock())

    @contextmanager
    def timed(self, stage: str, worker: str = "driver") -> Iterator[Counted]:
        """Time the block as `stage`'s busy time; the block says how many items it handled
        (`counted.items = n`). What the runner uses for the stages it runs itself."""
        counted = Counted()
        started = time.perf_counter()
        try:
            yield counted
        finally:
            self[stage].add(counted.items, time.perf_counter() - started, worker)

    def line(self) -> str | None:
        """One summary line of every stage that handled anything, in the data flow's order:
        'scan 9000.0 files/s (1 worker), ..., decode 61.0 img/s (2 workers × 30.5, 2 nodes), ...'."""
        parts = []
        stages = [*PIPELINE_ORDER, *(stage for stage in self.clocks if stage not in PIPELINE_ORDER)]
        for stage in stages:
            clock = self.clocks.get(stage)
            if clock is None or not clock.images:
                continue
            unit = _(_UNITS.get(stage, IMAGES_PER_S))
            workers = len(clock.workers)
            how = (
                ngettext("{count} worker × {rate}", "{count} workers × {rate}", workers).format(
                    count=workers, rate=_rate(clock.per_worker_rate)
                )
                if workers > 1
                else _("1 worker")
            )
            if len(clock.nodes) > 1:
                how += ", " + ngettext("{count} node", "{count} nodes", len(clock.nodes)).format(count=len(clock.nodes))
            parts.append(f"{stage} {_rate(clock.capacity)} {unit} ({how})")
        return _("stage rates while busy: {stages}").format(stages=", ".join(parts)) if parts else None


def _rate(per_second: float) -> str:
    """A rate as precise as it is meaningful: 48743 files/s needs no decimals, 1.8 img/s does."""
    return f"{per_second:.0f}" if per_second >= 100 else f"{per_second:.1f}"
