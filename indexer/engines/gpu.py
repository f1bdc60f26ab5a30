"""The GPU engine: JPEGs decoded, cropped and resized on the device (nvJPEG), the rest on CPU workers.

Reader threads, two decoding threads and a process pool keep the card busy:
- readers (a thread pool): file bytes, the photo's facts and the route (search/images/device.py);
- the device decoder (one thread, its own CUDA stream): batches of JPEGs through decode_jpeg, copied
  from one pinned host buffer, then upright / square / resize, while the encoder works on the batch
  before (decode of batch n+1 overlaps encode of batch n);
- the CPU decoder (one thread driving indexer.decode.DecodePool, started only when a file needs it):
  every file the device does not take, so a bad file still fails alone with its reason;
- the caller's thread: encodes what both decoders handed over and yields the store records.

The batch size comes from the free device memory (gpu_batch.batch_size_for) unless given; a device
batch is also cut when its pictures add up to more pixels than that size was planned for.
The device is a parameter: on the CPU the whole engine runs in the tests.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from search.clip.encoder import DEFAULT_IMAGE_BATCH, RuClip
from search.clip.preprocess import normalize_device_squares
from search.constants import DECODE_TIMEOUT_S
from search.i18n import _
from search.images.decoded import Decoded, DeviceSquare, Failed, HostSquare
from search.images.device import (
    JpegJob,
    ToCpu,
    decode_jpegs,
    device_print,
    device_square,
    read_job,
    torchvision_decode_jpeg,
)

from ..decode import DecodePool
from ..encode import KnownVectors, Row, rows_of_batch
from ..scan import FoundFile
from ..stages import DECODE, ENCODE, READ, StageTimes
from .gpu_batch import batch_size_for

PLANNED_MEGAPIXELS = 12.0  # the picture size a memory-sized batch is planned for
_DONE = object()


@dataclass
class GpuEngine:
    model: RuClip  # loaded on `model.device`, which is where decoding runs too
    workers: int  # CPU decoding processes for what the device does not take
    batch_size: int | None = None  # None: from free device memory (CUDA), else DEFAULT_IMAGE_BATCH
    readers: int = field(default_factory=lambda: os.cpu_count() or 1)  # threads: bytes, hash, header
    decoder: str = "auto"  # "torchvision" (nvJPEG / libjpeg) or "pillow" (the stand-in without torchvision)
    fast_jpeg: bool = True  # the CPU workers' DCT-scaled decoding
    timeout_s: float = DECODE_TIMEOUT_S
    depth: int = 2  # decoded device batches waiting for the encoder
    routed_to_cpu: dict[str, str] = field(default_factory=dict)  # path -> why, for tests and the benchmark

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def embed_dim(self) -> int:
        return self.model.embed_dim

    def chosen_decoder(self) -> str:
        if self.decoder != "auto":
            return self.decoder
        return "torchvision" if torchvision_decode_jpeg() is not None else "pillow"

    def chosen_batch_size(self) -> int:
        if self.batch_size:
            return self.batch_size
        if self.device.type != "cuda":
            return DEFAULT_IMAGE_BATCH
        free, _total = torch.cuda.mem_get_info(self.device)
        return batch_size_for(free, self.model.config, self.model.precision, PLANNED_MEGAPIXELS)

    def row_batches(self, work: list[FoundFile], known: KnownVectors, stages: StageTimes) -> Iterator[list[Row]]:
        files = {found.path: found for found in work}
        batch = self.chosen_batch_size()
        run = _Run(self, batch, stages)
        run.start([found.path for found in work])
        try:
            pending: list[Decoded | Failed] = []
            for results in run.handed_over():
                pending.extend(results)
                if len(pending) >= batch:
                    yield self._encoded(pending, files, known, stages)
                    pending = []
            if pending:
                yield self._encoded(pending, files, known, stages)
        finally:
            run.stop()

    def _encoded(self, results: list[Decoded | Failed], files, known: KnownVectors, stages: StageTimes) -> list[Row]:
        started = time.perf_counter()
        rows = rows_of_batch(results, files, known, self._encode)
        stages[ENCODE].add(len(rows), time.perf_counter() - started, worker=f"encoder {self.device}")
        return rows

    def _encode(self, todo: list[Decoded]) -> np.ndarray:
        """Squares on the device (from its decoder) and on the host (from the CPU pool) -> unit rows."""
        resolution = self.model.config.image_resolution
        squares = torch.empty((len(todo), 3, resolution, resolution), dtype=torch.uint8, device=self.device)
        on_device = [i for i, r in enumerate(todo) if isinstance(r.square, DeviceSquare)]
        on_host = [i for i, r in enumerate(todo) if isinstance(r.square, HostSquare)]
        if on_device:
            squares[on_device] = torch.stack([todo[i].square.pixels for i in on_device])  # (n, 3, R, R)
        if on_host:
            # (n, R, R, 3) -> (n, 3, R, R)
            host = torch.from_numpy(np.stack([todo[i].square.pixels for i in on_host])).permute(0, 3, 1, 2)
            if self.device.type == "cuda":
                host = host.pin_memory()  # a non-blocking copy needs page-locked memory
            squares[on_host] = host.to(self.device, non_blocking=True)
        config = self.model.config
        return self.model.encode_pixels(normalize_device_squares(squares, config.mean, config.std))


class _Run:
    """One row_batches call's threads and queues."""

    def __init__(self, engine: GpuEngine, batch: int, stages: StageTimes):
        self.engine = engine
        self.batch = batch
        self.stages = stages
        self.pixel_budget = batch * PLANNED_MEGAPIXELS * 1e6
        self.decoder = engine.chosen_decoder()
        self.out: queue.Queue = queue.Queue(maxsize=max(2, engine.depth) + 2)  # lists of results, or _DONE
        self.to_cpu: queue.Queue = queue.Queue()  # paths, then _DONE
        self.halt = threading.Event()  # stop working: a thread failed or the caller stopped
        self.closed = threading.Event()  # the caller reads no more
        self.failure: list[BaseException] = []
        self.threads: list[threading.Thread] = []
        self.readers = ThreadPoolExecutor(max(1, engine.readers), thread_name_prefix="gpu-reader")
        cuda = engine.device.type == "cuda"
        self.stream = torch.cuda.Stream(engine.device) if cuda else None

    def start(self, paths: list[str]) -> None:
        for target, name, args in ((self._route_and_decode, "gpu-decoder", (paths,)), (self._cpu, "cpu-decoder", ())):
            thread = threading.Thread(target=self._guarded, args=(target, *args), name=name, daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        self.halt.set()
        self.closed.set()
        self.readers.shutdown(wait=False, cancel_futures=True)
        for thread in self.threads:
            thread.join(timeout=30)

    def handed_over(self) -> Iterator[list[Decoded | Failed]]:
        finished = 0
        while finished < len(self.threads):
            item = self.out.get()
            if item is _DONE:
                finished += 1
                continue
            results, squares = item
            if squares is not None and self.stream is not None:
                # Made on the decoder's stream, used and freed on this one: the allocator must not
                # hand the memory back to the decoder before the encoder's kernels have read it.
                squares.record_stream(torch.cuda.current_stream(self.engine.device))
            yield results
        if self.failure:
            raise self.failure[0]

    # ---- threads ---------------------------------------------------------------------------------

    def _guarded(self, target, *args) -> None:
        try:
            target(*args)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            self.failure.append(exc)
            self.halt.set()
        finally:
            self._put(self.out, _DONE, always=True)

    def _put(self, where: queue.Queue, item: object, always: bool = False) -> bool:
        """Put unless halted (a failure or the caller stopped); `always` (the end marker) waits for
        room unless the caller has stopped reading."""
        while not self.closed.is_set() and (always or not self.halt.is_set()):
            try:
                where.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _route_and_decode(self, paths: list[str]) -> None:
        """Read ahead with the reader threads, in order; cut device batches; decode them here."""
        window = 4 * self.batch
        ahead: list[Future] = []
        jobs: list[JpegJob] = []
        pixels = 0.0
        read_busy = 0.0
        read = 0
        try:
            position = 0
            while position < len(paths) or ahead:
                while position < len(paths) and len(ahead) < window:
                    ahead.append(self.readers.submit(_timed_read, paths[position]))
                    position += 1
                job, seconds = ahead.pop(0).result()
                read_busy += seconds
                read += 1
                if self.halt.is_set():
                    return
                if isinstance(job, ToCpu):
                    self.engine.routed_to_cpu[job.path] = job.why
                    self.to_cpu.put(job.path)
                    continue
                jobs.append(job)
                pixels += job.facts.width * job.facts.height
                if len(jobs) >= self.batch or pixels >= self.pixel_budget:
                    self._decode(jobs)
                    jobs, pixels = [], 0.0
            if jobs:
                self._decode(jobs)
        finally:
            self.to_cpu.put(_DONE)
            # Each reader thread is a worker of the stage, as each decoding process is (the threads' busy
            # seconds are summed), so the line's capacity is the rate of all of them together.
            clock = self.stages[READ]
            clock.images += read
            clock.busy_s += read_busy
            clock.workers.update(f"reader {number}" for number in range(self.engine.readers))

    def _decode(self, jobs: list[JpegJob]) -> None:
        started = time.perf_counter()
        device = self.engine.device
        resolution = self.engine.model.config.image_resolution
        context = torch.cuda.stream(self.stream) if self.stream is not None else contextlib.nullcontext()
        with context:
            pictures = decode_jpegs([job.data for job in jobs], device, self.decoder, pinned=self.stream is not None)
            refused = [job for job, picture in zip(jobs, pictures, strict=True) if picture is None]
            taken = [job for job, picture in zip(jobs, pictures, strict=True) if picture is not None]
            squares = prints = None
            if taken:
                decoded = [(job, picture) for job, picture in zip(jobs, pictures, strict=True) if picture is not None]
                squares = torch.stack([device_square(picture, job.orientation, resolution) for job, picture in decoded])
                # The pictures' prints (192 bytes each) come back to the host in one copy.
                prints = torch.stack([device_print(picture, job.orientation) for job, picture in decoded])
            del pictures  # the full-size pictures: the largest thing a batch holds
        if self.stream is not None:
            self.stream.synchronize()  # this thread waits for its own work; the encoder's stream runs on
        host_prints = prints.cpu().numpy() if prints is not None else []
        results: list[Decoded | Failed] = [
            Decoded(job.path, replace(job.facts, picture_print=host_prints[i].tobytes()), DeviceSquare(squares[i]))
            for i, job in enumerate(taken)
        ]
        self.stages[DECODE].add(len(results), time.perf_counter() - started, worker=f"nvJPEG {device}")
        for job in refused:
            self.engine.routed_to_cpu[job.path] = _("refused by the device decoder")
            self.to_cpu.put(job.path)
        if results:
            self._put(self.out, (results, squares))

    def _gather(self, chunk: list[str], wanted: int, wait_s: float = 0.5) -> bool:
        """Add paths to `chunk` until it holds `wanted`, the router is done (returns True) or `wait_s` passed."""
        deadline = time.monotonic() + wait_s
        while len(chunk) < wanted and time.monotonic() < deadline:
            try:
                item = self.to_cpu.get(timeout=0.05)
            except queue.Empty:
                continue
            if item is _DONE:
                return True
            chunk.append(item)
        return False

    def _cpu(self) -> None:
        """Decode what the router sends here, in chunks of whatever has arrived, on one DecodePool."""
        engine = self.engine
        pool: DecodePool | None = None
        try:
            finished = False
            while not finished and not self.halt.is_set():
                try:
                    first = self.to_cpu.get(timeout=0.1)
                except queue.Empty:
                    continue
                chunk: list[str] = []
                for item in [first, *_drain(self.to_cpu)]:
                    if item is _DONE:
                        finished = True
                    else:
                        chunk.append(item)
                if not chunk:
                    continue
                if pool is None:
                    # The pool starts as many workers as its first chunk has files: gather a little.
                    finished = finished or self._gather(chunk, engine.workers)
                    resolution = engine.model.config.image_resolution
                    pool = DecodePool(
                        resolution, engine.workers, fast_jpeg=engine.fast_jpeg, timeout_s=engine.timeout_s
                    )
                results: list[Decoded | Failed] = []
                for result in pool.imap(chunk):
                    if self.halt.is_set():
                        return
                    results.append(result)
                    if len(results) >= self.batch:
                        self._put(self.out, (results, None))
                        results = []
                if results:
                    self._put(self.out, (results, None))
        finally:
            if pool is not None:
                clock = self.stages[DECODE]
                clock.images += pool.finished
                clock.busy_s += pool.busy_s
                clock.workers.update(f"decoder {number}" for number in range(pool.workers))
                pool.close()


def _timed_read(path: str) -> tuple[JpegJob | ToCpu, float]:
    started = time.perf_counter()
    job = read_job(path)
    return job, time.perf_counter() - started


def _drain(where: queue.Queue) -> list[object]:
    items = []
    while True:
        try:
            items.append(where.get_nowait())
        except queue.Empty:
            return items
