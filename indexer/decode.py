"""Image files -> 8-bit model-sized squares plus metadata, in worker processes.

A crafted or broken file can crash Pillow, hang it, or ask for gigabytes. Each worker holds one
file at a time, under a memory limit, and the pool watches it: a worker that dies or overruns its
time is killed and replaced, and only the file it held is marked failed. Workers never import torch.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing as mp
import queue
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from PIL import Image

from search.errors import ImageLoadError
from search.preprocess import load_image, square_pixels

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MEMORY_LIMIT_BYTES = 3 << 30  # address space per worker: a 89-Mpx 16-bit TIFF still fits
EXIF_IFD, EXIF_DATE_TAKEN, EXIF_DATE = 0x8769, 0x9003, 0x0132
EXIF_MAKE, EXIF_MODEL = 0x010F, 0x0110
HASH_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Decoded:
    path: str
    pixels: npt.NDArray[np.uint8]  # (R, R, 3): the model's centre square, not yet normalised
    width: int  # upright size of the original
    height: int
    taken_at: datetime | None
    camera: str | None
    content_hash: str


@dataclass(frozen=True)
class Failed:
    path: str
    reason: str  # short, groupable: "not an image", "too large", "timed out", ...
    detail: str


def register_optional_formats() -> frozenset[str]:
    """Enable HEIC/HEIF/AVIF when their Pillow plugins are installed; returns the suffixes gained."""
    gained: set[str] = set()
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        gained |= {".heic", ".heif"}
        if hasattr(pillow_heif, "register_avif_opener"):
            pillow_heif.register_avif_opener()
            gained.add(".avif")
    except Exception:  # noqa: BLE001 - absent or broken plugin: those formats stay off
        pass
    if ".avif" not in gained:
        try:
            import pillow_avif  # noqa: F401 - registers itself on import

            gained.add(".avif")
        except Exception:  # noqa: BLE001
            pass
    if hasattr(Image, "registered_extensions") and ".avif" in Image.registered_extensions():
        gained.add(".avif")  # Pillow ≥ 11.3 decodes AVIF itself when built with libavif
    return frozenset(gained)


def content_hash(path: str) -> str:
    """blake2b of the file's bytes: finds a renamed or moved photo without decoding it."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _exif_facts(image: Image.Image) -> tuple[datetime | None, str | None]:
    try:
        exif = image.getexif()
        raw = exif.get_ifd(EXIF_IFD).get(EXIF_DATE_TAKEN) or exif.get(EXIF_DATE)
        make, model = (str(exif.get(tag, "")).strip("\x00 ") for tag in (EXIF_MAKE, EXIF_MODEL))
    except Exception:  # noqa: BLE001 - broken EXIF costs the metadata, never the photo
        return None, None
    taken = None
    if isinstance(raw, str):
        try:
            taken = datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:
            taken = None
    camera = model if make and model.lower().startswith(make.lower()) else " ".join(p for p in (make, model) if p)
    return taken, camera or None


def decode_one(path: str, resolution: int, fast_jpeg: bool = True) -> Decoded | Failed:
    """Decode one file into the model's 8-bit square; every expected problem becomes a Failed."""
    try:
        # Fast path: a large JPEG decodes at 1/2-1/8 scale (DCT scaling) with its short side kept
        # ≥ 2× the model's resolution, so the bilinear resize after it sees nearly the same pixels.
        image = load_image(path, draft_short_side=2 * resolution if fast_jpeg else None)
        with image:
            taken_at, camera = _exif_facts(image)
            width, height = image.size
            pixels = square_pixels(image, resolution)
        return Decoded(path, pixels, width, height, taken_at, camera, content_hash(path))
    except ImageLoadError as exc:
        message = str(exc)
        reason = (
            "too large"
            if "too large" in message
            else "permission denied"
            if "permission" in message
            else "vanished"
            if "no such file" in message
            else "not a readable image"
        )
        return Failed(path, reason, message)
    except MemoryError:
        return Failed(path, "out of memory", f"{path}: decoding needed more memory than a worker may use.")
    except OSError as exc:  # reading the bytes for the hash
        return Failed(path, "not a readable image", f"{path}: {exc}")
    except Exception as exc:  # noqa: BLE001 - a decoder bug on one file must not stop the worker
        return Failed(path, "decoder error", f"{path}: {type(exc).__name__}: {exc}")


def _limit_memory(limit_bytes: int) -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    except (ImportError, ValueError, OSError):  # not on this platform: the timeout still guards
        pass


def _worker(tasks: mp.Queue, results: mp.Queue, resolution: int, fast_jpeg: bool, memory_limit: int) -> None:
    _limit_memory(memory_limit)
    register_optional_formats()
    while (task := tasks.get()) is not None:
        number, path = task
        results.put((number, decode_one(path, resolution, fast_jpeg)))


@dataclass
class _Slot:
    process: mp.process.BaseProcess
    tasks: mp.Queue
    number: int | None = None  # the task it holds
    path: str = ""
    started: float = 0.0


class DecodePool:
    """Worker processes decoding files one at a time each, with crash and hang isolation."""

    def __init__(
        self,
        resolution: int,
        workers: int,
        *,
        fast_jpeg: bool = True,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT_BYTES,
    ):
        self.resolution = resolution
        self.workers = max(1, workers)
        self.fast_jpeg = fast_jpeg
        self.timeout_s = timeout_s
        self.memory_limit_bytes = memory_limit_bytes
        # spawn: a forked copy of a parent holding torch's threads can deadlock; workers stay small.
        self._context = mp.get_context("spawn")
        self._results: mp.Queue = self._context.Queue()
        self._slots: list[_Slot] = []

    def _start_slot(self) -> _Slot:
        tasks = self._context.Queue()
        process = self._context.Process(
            target=_worker,
            args=(tasks, self._results, self.resolution, self.fast_jpeg, self.memory_limit_bytes),
            daemon=True,
        )
        process.start()
        return _Slot(process, tasks)

    def _replace(self, index: int) -> None:
        slot = self._slots[index]
        if slot.process.is_alive():
            slot.process.kill()
        slot.process.join(5)
        self._slots[index] = self._start_slot()

    def imap(self, paths: Iterable[str]) -> Iterator[Decoded | Failed]:
        """Decode `paths`, yielding one result per path in completion order."""
        pending = deque(paths)
        if not self._slots:
            self._slots = [self._start_slot() for _ in range(min(self.workers, max(1, len(pending))))]
        busy = 0
        number = 0
        while pending or busy:
            for slot in self._slots:
                if slot.number is None and pending:
                    slot.number, slot.path, slot.started = number, pending.popleft(), time.monotonic()
                    slot.tasks.put((number, slot.path))
                    number += 1
                    busy += 1
            try:
                done_number, result = self._results.get(timeout=0.2)
            except queue.Empty:
                done_number, result = None, None
            if result is not None:
                for slot in self._slots:
                    if slot.number == done_number:
                        slot.number = None
                        busy -= 1
                        yield result
                        break
            now = time.monotonic()
            for index, slot in enumerate(self._slots):
                if slot.number is None:
                    continue
                if not slot.process.is_alive():
                    code = slot.process.exitcode
                    failure = Failed(
                        slot.path,
                        "crashed the decoder",
                        f"{slot.path}: the decoder process died (exit code {code}) on this file.",
                    )
                elif now - slot.started > self.timeout_s:
                    failure = Failed(slot.path, "timed out", f"{slot.path}: decoding took over {self.timeout_s:.0f} s.")
                else:
                    continue
                self._replace(index)
                busy -= 1
                yield failure

    def close(self) -> None:
        for slot in self._slots:
            if slot.process.is_alive():
                try:
                    slot.tasks.put(None)
                except (OSError, ValueError):
                    pass
        for slot in self._slots:
            slot.process.join(2)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(2)
        self._slots = []

    def __enter__(self) -> DecodePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
