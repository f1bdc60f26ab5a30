"""Image files -> the model's unit image vectors, decoded as the indexer decodes them, cached on disk.

The pixels are the indexer's: load_image (EXIF orientation, the fast JPEG path's DCT scaling when
`fast_jpeg`) and the reference's centre square (search.images), normalised and encoded by
RuClip.encode_squares. Decoding runs on threads (Pillow releases the GIL) one batch ahead of the
encoder.

The cache: a folder per (model weights, precision, device kind, decoding options, the files' names,
sizes and modification times), holding the vectors in chunks of `chunk_images` files, each written to a
temporary file and renamed. A run that stops (Ctrl-C, a crash) keeps every finished chunk; the next
run with the same key loads them and encodes only the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ..images.decode import DRAFT_FACTOR
from ..images.open import load_image
from ..images.square import square_pixels

if TYPE_CHECKING:
    from ..clip.encoder import RuClip

CACHE_FORMAT = 1  # raised when what a chunk holds or how its key is made changes: old caches are then unused
DEFAULT_CHUNK_IMAGES = 1024  # files per chunk: at most this much work lost to a Ctrl-C
DEFAULT_BATCH = 64
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class EncodedImages:
    """The vectors of a run's files, in their order, and how many came from the cache."""

    vectors: npt.NDArray[np.float32]  # (N, D) unit rows
    from_cache: int
    encoded: int
    cache_folder: Path | None


def square_of(path: Path, resolution: int, fast_jpeg: bool) -> npt.NDArray[np.uint8]:
    """One file -> the model's uint8 (R, R, 3) square, as search.images.decode_one makes it for a build.
    Raises ImageLoadError naming the file."""
    with load_image(path, draft_short_side=DRAFT_FACTOR * resolution if fast_jpeg else None) as image:
        return square_pixels(image, resolution)


def cache_key(model: RuClip, files: Sequence[Path], fast_jpeg: bool) -> str:
    """sha256 of what the vectors depend on: the weights, how they run, the decoding, and the files."""
    digest = hashlib.sha256()
    settings = {
        "format": CACHE_FORMAT,
        "weights": model.fingerprint,
        "precision": str(model.precision),
        "device": model.device.type,  # fp32 on a GPU differs from a CPU's in the last bits
        "resolution": model.config.image_resolution,
        "fast_jpeg": fast_jpeg,
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for path in files:
        stat = path.stat()
        digest.update(f"\0{path}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _chunk_path(folder: Path, number: int) -> Path:
    return folder / f"chunk-{number:06d}.npy"


def _cached_chunk(path: Path, rows: int, dim: int) -> npt.NDArray[np.float32] | None:
    """A chunk's vectors if the file is whole and of the expected shape; None otherwise (it is redone)."""
    try:
        vectors = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return vectors if vectors.shape == (rows, dim) and vectors.dtype == np.float32 else None


def _save_atomically(path: Path, vectors: npt.NDArray[np.float32]) -> None:
    temporary = path.with_name(path.name + ".part")
    try:
        with open(temporary, "wb") as handle:
            np.save(handle, vectors, allow_pickle=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:  # Ctrl-C or a full disk midway: no half-written chunk is left behind
        temporary.unlink(missing_ok=True)
        raise


def encode_image_files(
    model: RuClip,
    files: Sequence[Path],
    *,
    cache_root: Path | None,
    label: str = "images",
    fast_jpeg: bool = True,
    batch_size: int = DEFAULT_BATCH,
    chunk_images: int = DEFAULT_CHUNK_IMAGES,
    workers: int | None = None,
    progress: bool = True,
) -> EncodedImages:
    """Encode `files` in order into (N, D) unit vectors; cache_root=None caches nothing.

    `label` names the cache folder (with the key's first characters) and the progress bar.
    Raises ImageLoadError naming the first file that cannot be decoded; finished chunks stay cached.
    """
    from tqdm import tqdm

    dim, resolution = model.embed_dim, model.config.image_resolution
    folder = None
    if cache_root is not None:
        folder = cache_root / f"{label}-{cache_key(model, files, fast_jpeg)[:20]}"
        folder.mkdir(parents=True, exist_ok=True)
        manifest = folder / MANIFEST_FILE
        if not manifest.exists():
            manifest.write_text(
                json.dumps({"model": model.name, "files": len(files), "fast_jpeg": fast_jpeg}, ensure_ascii=False),
                encoding="utf-8",
            )
    out = np.empty((len(files), dim), dtype=np.float32)
    chunks = [(start, min(start + chunk_images, len(files))) for start in range(0, len(files), chunk_images)]
    todo: list[tuple[int, int, int]] = []  # (chunk number, start, stop)
    for number, (start, stop) in enumerate(chunks):
        cached = _cached_chunk(_chunk_path(folder, number), stop - start, dim) if folder else None
        if cached is None:
            todo.append((number, start, stop))
        else:
            out[start:stop] = cached
    encoded = sum(stop - start for _, start, stop in todo)
    bar = tqdm(total=len(files), initial=len(files) - encoded, desc=label, unit="img", disable=not progress or None)
    threads = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(threads) as pool, bar:
        batches = [(b, min(b + batch_size, stop)) for _, start, stop in todo for b in range(start, stop, batch_size)]

        def decode(span: tuple[int, int]) -> list[Future[npt.NDArray[np.uint8]]]:
            return [pool.submit(square_of, files[i], resolution, fast_jpeg) for i in range(*span)]

        ahead = decode(batches[0]) if batches else []
        for index, (begin, end) in enumerate(batches):
            current, ahead = ahead, (decode(batches[index + 1]) if index + 1 < len(batches) else [])
            squares = np.stack([future.result() for future in current])  # (B, R, R, 3) uint8
            out[begin:end] = model.encode_squares(squares)
            bar.update(end - begin)
            if folder is not None:
                for number, start, stop in todo:
                    if stop == end:  # this batch finished chunk `number`: keep it
                        _save_atomically(_chunk_path(folder, number), out[start:stop])
        for future in ahead:
            future.cancel()
    return EncodedImages(out, len(files) - encoded, encoded, folder)
