"""The decode stage of a build: search.images.decode_one in worker processes, isolated from each other.
(The same isolated pool runs the OCR stage's reads, indexer/ocr.py: any per-file job can ride on it.)

Any format search.images reads, camera RAW included (rawpy runs in the same workers, under the same
memory limit and timeout: a RAW that crashes or hangs LibRaw fails alone, like any other file).

A crafted or broken file can crash Pillow, hang it, or ask for gigabytes. Each worker holds one
file at a time, under a memory limit, and the pool watches it: a worker that dies or overruns its
time is killed and replaced, and only the file it held is marked failed. Workers never import torch.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import sys
import threading
import time
import types
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

from search.constants import DECODE_TIMEOUT_S
from search.errors import ImageProblem
from search.i18n import _
from search.images.decode import decode_one
from search.images.decoded import Decoded, Failed
from search.images.formats import ensure_optional_formats

from .errors import DecoderStartError

log = logging.getLogger(__name__)

DEFAULT_MEMORY_LIMIT_BYTES = 3 << 30  # address space a worker may add: a 178-Mpx 16-bit TIFF still fits


def _limit_memory(extra_bytes: int) -> None:
    """Cap the worker's address space at what it uses now plus `extra_bytes`: a file asking for
    more gets a MemoryError (recorded as its failure) instead of swapping the machine to death.
    Relative to the current size, because thread pools of numerical libraries reserve address
    space in proportion to the core count."""
    try:
        import resource

        page = os.sysconf("SC_PAGE_SIZE")
        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[0]) * page
        limit = current + extra_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # not on this platform: the timeout still guards
        pass


class WorkerJob(Protocol):
    """What an isolated pool's workers do to each file. Picklable (it travels to spawned workers);
    `start` runs once in each worker and returns the per-file function; `crashed` and `timed_out`
    word the failure of a file whose worker died on it or overran the pool's timeout."""

    def start(self) -> Callable[[str], Decoded | Failed]: ...

    def crashed(self, path: str, exit_code: int | None) -> Failed: ...

    def timed_out(self, path: str, timeout_s: float) -> Failed: ...


@dataclass(frozen=True)
class DecodeJob:
    """Decode a file into the model's square (search.images.decode_one)."""

    resolution: int
    fast_jpeg: bool = True

    def start(self) -> Callable[[str], Decoded | Failed]:
        ensure_optional_formats()
        return partial(decode_one, resolution=self.resolution, fast_jpeg=self.fast_jpeg)

    def crashed(self, path: str, exit_code: int | None) -> Failed:
        return Failed(
            path,
            ImageProblem.DECODER_CRASHED,
            _("{path}: the decoder died (exit code {code}) on it.").format(path=path, code=exit_code),
        )

    def timed_out(self, path: str, timeout_s: float) -> Failed:
        return Failed(
            path,
            ImageProblem.TIMED_OUT,
            _("{path}: decoding took over {timeout_s:g} s.").format(path=path, timeout_s=timeout_s),
        )


def _worker(connection: Connection, job: WorkerJob, memory_limit: int) -> None:
    _limit_memory(memory_limit)
    # Pillow warns about odd but decodable files (a corrupt EXIF, an invalid APNG): on a large
    # collection those lines bury the summary. A failure still becomes a Failed; a decompression
    # bomb is a RuntimeWarning that load_image turns into one itself.
    warnings.filterwarnings("ignore", category=UserWarning)
    run = job.start()
    connection.send(None)  # ready: the parent starts a file's clock only now, not during start-up
    try:
        while (task := connection.recv()) is not None:
            number, path = task
            started = time.perf_counter()
            result = run(path)
            connection.send((number, result, time.perf_counter() - started))
    except (EOFError, KeyboardInterrupt):  # the parent went away or the user pressed Ctrl-C
        pass


@dataclass
class _Slot:
    process: mp.process.BaseProcess
    connection: Connection  # one pipe per worker: killing one can never corrupt another's channel
    ready: bool = False
    number: int | None = None  # the task it holds
    path: str = ""
    started: float = 0.0


_MAIN_LOCK = threading.Lock()


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start a spawned worker without it re-importing the parent's __main__.

    spawn runs the parent's main script again in every child unless it is import-guarded; a
    Streamlit page or a notebook calling build_index is not, and would run again in each worker.
    The worker needs nothing from it (its target lives in this module), so the child is shown
    an empty __main__ while start() records what to prepare.
    """
    with _MAIN_LOCK:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            sys.modules["__main__"] = main


class IsolatedPool:
    """Worker processes doing a job to files one at a time each, with crash and hang isolation."""

    def __init__(
        self,
        job: WorkerJob,
        workers: int,
        *,
        timeout_s: float = DECODE_TIMEOUT_S,
        memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT_BYTES,
    ):
        self.job = job
        self.workers = max(1, workers)
        self.timeout_s = timeout_s
        self.memory_limit_bytes = memory_limit_bytes
        # spawn: a forked copy of a parent holding torch's threads can deadlock; workers stay small.
        self._context = mp.get_context("spawn")
        self._slots: list[_Slot] = []
        self._deaths_before_ready = 0
        self.busy_s = 0.0  # the seconds workers spent decoding the files they finished (the stage's rate)
        self.finished = 0

    def _start_slot(self) -> _Slot:
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(
            target=_worker,
            args=(child_end, self.job, self.memory_limit_bytes),
            daemon=True,
        )
        with _main_module_hidden():
            process.start()
        child_end.close()
        return _Slot(process, parent_end)

    def _replace(self, index: int) -> None:
        slot = self._slots[index]
        if slot.process.is_alive():
            slot.process.kill()
        slot.process.join(5)
        slot.connection.close()
        self._slots[index] = self._start_slot()

    def _failure_of(self, slot: _Slot, now: float) -> Failed | None:
        """A failure if the slot's worker died or overran its time on the file it holds."""
        if not slot.process.is_alive():
            return self.job.crashed(slot.path, slot.process.exitcode)
        if now - slot.started > self.timeout_s:
            return self.job.timed_out(slot.path, self.timeout_s)
        return None

    def imap(self, paths: Iterable[str]) -> Iterator[Decoded | Failed]:
        """Do the job to `paths`, yielding one result per path in completion order."""
        for _path, result in self.imap_with_paths(paths):
            yield result

    def imap_with_paths(self, paths: Iterable[str]) -> Iterator[tuple[str, Any]]:
        """(path, the job's result or a Failed) for each of `paths`, in completion order."""
        pending = deque(paths)
        if not self._slots:
            self._slots = [self._start_slot() for _ in range(min(self.workers, max(1, len(pending))))]
        number = 0
        while pending or any(slot.number is not None for slot in self._slots):
            for slot in self._slots:
                if slot.ready and slot.number is None and pending:
                    slot.number, slot.path, slot.started = number, pending.popleft(), time.monotonic()
                    slot.connection.send((number, slot.path))
                    number += 1
            for connection in wait([slot.connection for slot in self._slots], timeout=0.1):
                slot = next(s for s in self._slots if s.connection is connection)
                try:
                    message = connection.recv()
                except (EOFError, OSError):
                    continue  # the worker died: found by the liveness check below
                if message is None:
                    slot.ready = True
                elif message[0] == slot.number:
                    slot.number = None
                    self.busy_s += message[2]
                    self.finished += 1
                    yield slot.path, message[1]
            now = time.monotonic()
            for index, slot in enumerate(self._slots):
                if slot.number is not None and (failure := self._failure_of(slot, now)) is not None:
                    path = slot.path
                    self._replace(index)
                    yield path, failure
                elif slot.number is None and not slot.process.is_alive():
                    self._deaths_before_ready += not slot.ready
                    if self._deaths_before_ready > 3 * self.workers:
                        raise DecoderStartError(
                            _(
                                "Decoding processes exit as soon as they start (exit code {exitcode}); try "
                                "--workers 1, or check that Pillow imports in this Python."
                            ).format(exitcode=slot.process.exitcode)
                        )
                    self._replace(index)  # died between files or at start-up: a fresh one

    def close(self) -> None:
        for slot in self._slots:
            try:
                slot.connection.send(None)
            except (OSError, ValueError):
                pass
        for slot in self._slots:
            slot.process.join(2)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(2)
            slot.connection.close()
        self._slots = []

    def __enter__(self) -> IsolatedPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DecodePool(IsolatedPool):
    """Worker processes decoding files into the model's square, one at a time each, isolated."""

    def __init__(
        self,
        resolution: int,
        workers: int,
        *,
        fast_jpeg: bool = True,
        timeout_s: float = DECODE_TIMEOUT_S,
        memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT_BYTES,
    ):
        super().__init__(
            DecodeJob(resolution, fast_jpeg), workers, timeout_s=timeout_s, memory_limit_bytes=memory_limit_bytes
        )
        self.resolution = resolution
        self.fast_jpeg = fast_jpeg


def decoded_in_background(pool: IsolatedPool, paths: list[str], depth: int) -> Iterator[Decoded | Failed]:
    """Run the decode pool in a thread so that workers keep decoding while the model encodes."""
    results: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    failure: list[BaseException] = []

    def feed() -> None:
        try:
            for result in pool.imap(paths):
                results.put(result)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            failure.append(exc)
        finally:
            results.put(done)

    thread = threading.Thread(target=feed, name="decode-feeder", daemon=True)
    thread.start()
    while (item := results.get()) is not done:
        yield item
    thread.join()
    if failure:
        raise failure[0]
