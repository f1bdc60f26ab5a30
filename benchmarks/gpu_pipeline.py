"""The GPU engine's numbers (issue 14): end to end through the engine, the encoder alone, and how
close the device-side preprocessing is to the CPU's.

    python benchmarks/gpu_pipeline.py preprocess                 # on the CPU too: pixels and cosines
    python benchmarks/gpu_pipeline.py engine --device cuda --count 512 --size 4000x3000
    python benchmarks/gpu_pipeline.py encoder --device cuda --precision fp16

engine: GpuEngine.row_batches over generated JPEGs (16 distinct pictures, each file made unique by
a JPEG comment so no content is reused), files to store records, with the stage rates; the CPU's
LocalEngine on the same files for comparison (--compare-cpu N files).
encoder: pre-decoded uint8 squares already on the device through normalisation and the vision
tower, batch after batch: the ceiling the decoders have to reach.
preprocess: the GPU path's square (read_job, the decoder, device_square) against the CPU build's
(decode_one: DCT-scaled decoding, PIL bilinear) and against exact decoding + square_pixels, on the
demo's real photos upscaled to 12 MP with grain: RMS pixel difference and cosine of the embeddings
(random B/32-384 weights).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import search  # noqa: E402
from indexer.engines.gpu import GpuEngine  # noqa: E402
from indexer.engines.local import LocalEngine  # noqa: E402
from indexer.scan import FoundFile  # noqa: E402
from indexer.stages import StageTimes  # noqa: E402
from search.clip.config import PUBLISHED_CONFIGS  # noqa: E402
from search.clip.preprocess import normalize_device_squares  # noqa: E402
from search.images.decode import decode_one  # noqa: E402
from search.images.device import decode_jpegs, device_square, read_job  # noqa: E402
from search.images.open import load_image  # noqa: E402
from search.images.square import square_pixels  # noqa: E402
from search.testing import make_random_checkpoint  # noqa: E402

BPE = REPO_ROOT / "tests" / "data" / "golden" / "tiny" / "model" / "bpe.model"
SOURCES = sorted((REPO_ROOT / "data" / "demo" / "backgrounds").glob("*.jpg"))
DISTINCT = 16


def _picture(args: tuple[int, tuple[int, int]]) -> bytes:
    """One real picture, turned a little, upscaled with sensor-like grain, saved at q=90."""
    index, size = args
    rng = np.random.default_rng(index)
    base = Image.open(SOURCES[index % len(SOURCES)]).convert("RGB").rotate(float(rng.uniform(-8, 8)))
    big = np.asarray(base.resize(size, Image.Resampling.BICUBIC), dtype=np.float32)
    grain = rng.normal(0, 6, big.shape).astype(np.float32)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(big + grain, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def make_jpegs(folder: Path, count: int, size: tuple[int, int]) -> list[Path]:
    """`count` JPEGs of `size`: DISTINCT pictures (made in parallel), each file unique by a COM segment."""
    with ProcessPoolExecutor(min(DISTINCT, os.cpu_count() or 1)) as pool:
        pictures = list(pool.map(_picture, [(i, size) for i in range(min(DISTINCT, count))]))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        data = pictures[i % len(pictures)]
        note = f"copy {i}".encode()
        comment = b"\xff\xfe" + (len(note) + 2).to_bytes(2, "big") + note
        path = folder / f"IMG_{i:05d}.jpg"
        path.write_bytes(data[:2] + comment + data[2:])
        paths.append(path)
    return paths


def model_for(work: Path, config: str, device: str, precision: str) -> search.RuClip:
    folder = work / "model"
    if not (folder / "config.json").exists():
        make_random_checkpoint(folder, PUBLISHED_CONFIGS[config], BPE)
    return search.load_model(folder, device=device, precision=precision)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def run_engine(engine, paths: list[Path]) -> tuple[float, StageTimes, int]:
    work = [FoundFile(str(p), p.stat().st_size, 0) for p in paths]
    stages = StageTimes()
    started = time.perf_counter()
    rows = sum(len(batch) for batch in engine.row_batches(work, lambda hashes: {}, stages))
    return time.perf_counter() - started, stages, rows


def engine_command(args: argparse.Namespace, work: Path) -> None:
    size = tuple(int(v) for v in args.size.split("x"))
    started = time.perf_counter()
    paths = make_jpegs(work / "photos", args.count, size)
    megabytes = sum(p.stat().st_size for p in paths) / 1e6
    print(f"wrote {args.count} JPEGs {size[0]}×{size[1]} ({megabytes:.0f} MB) in {time.perf_counter() - started:.1f} s")
    model = model_for(work, args.config, args.device, args.precision)
    engine = GpuEngine(model, workers=args.workers, batch_size=args.batch or None, readers=args.readers)
    run_engine(engine, paths[: min(len(paths), 2 * engine.chosen_batch_size())])  # warm-up: kernels, allocator
    for attempt in range(args.repeat):
        seconds, stages, rows = run_engine(engine, paths)
        how = f"{engine.chosen_decoder()}, {args.device}, {args.precision}, batch {engine.chosen_batch_size()}"
        print(
            f"GpuEngine ({how}, {args.readers} readers) run {attempt + 1}: "
            f"{rows} rows in {seconds:.2f} s = {rows / seconds:.0f} img/s"
        )
        print(f"  {stages.line()}")  # the readers' stage included
    if args.compare_cpu:
        cpu_model = model_for(work, args.config, "cpu" if args.device == "cuda" else args.device, "auto")
        subset = paths[: args.compare_cpu]
        seconds, stages, rows = run_engine(LocalEngine(cpu_model, args.workers, 32), subset)
        print(f"LocalEngine (CPU, {args.workers} workers): {rows} rows in {seconds:.2f} s = {rows / seconds:.1f} img/s")
        print(f"  {stages.line()}")


def encoder_command(args: argparse.Namespace, work: Path) -> None:
    model = model_for(work, args.config, args.device, args.precision)
    resolution = model.config.image_resolution
    for batch in args.batches:
        squares = torch.randint(0, 256, (batch, 3, resolution, resolution), dtype=torch.uint8, device=args.device)
        for _ in range(3):
            model.encode_pixels(normalize_device_squares(squares, model.config.mean, model.config.std))
        _sync(args.device)
        rounds = max(2, args.images // batch)
        started = time.perf_counter()
        for _ in range(rounds):
            model.encode_pixels(
                normalize_device_squares(squares, model.config.mean, model.config.std)
            )  # returns host arrays: synchronises
        seconds = time.perf_counter() - started
        print(f"encoder alone, {args.config}, {args.precision}, batch {batch}: {batch * rounds / seconds:.0f} img/s")


def preprocess_command(args: argparse.Namespace, work: Path) -> None:
    paths = make_jpegs(work / "photos", min(args.count, DISTINCT), tuple(int(v) for v in args.size.split("x")))
    model = model_for(work, "ruclip-vit-base-patch32-384", args.device, "fp32" if args.device == "cpu" else "fp16")
    resolution = model.config.image_resolution
    device = torch.device(args.device)
    decoder = "torchvision" if args.device == "cuda" else args.decoder
    ours, ours_float, exact, cpu_build = [], [], [], []
    for path in paths:
        job = read_job(str(path))
        (picture,) = decode_jpegs([job.data], device, decoder)
        ours.append(device_square(picture, job.orientation, resolution).permute(1, 2, 0).cpu().numpy())
        # CUDA resizes in float32 (no uint8 kernel): the same arithmetic, run here on a float picture.
        floated = device_square(picture.float(), job.orientation, resolution)
        ours_float.append(floated.permute(1, 2, 0).cpu().numpy())
        exact.append(square_pixels(load_image(path), resolution))
        cpu_build.append(decode_one(str(path), resolution).square.pixels)
    arrays = {
        name: np.stack(x) for name, x in (("uint8", ours), ("float", ours_float), ("exact", exact), ("cpu", cpu_build))
    }
    vectors = {name: model.encode_squares(a) for name, a in arrays.items()}
    print(f"{len(paths)} real photos at {args.size}, decoder {decoder} on {args.device}, B/32-384 random weights")
    print("| GPU path's square | RMS pixel difference (0..255) | max | cosine min | cosine mean |")
    print("| --- | --- | --- | --- | --- |")
    for ours_name in ("uint8", "float"):
        for label, name in (("exact decode + square_pixels", "exact"), ("the CPU build (DCT-scaled)", "cpu")):
            diff = arrays[ours_name].astype(np.float32) - arrays[name].astype(np.float32)
            cosines = (vectors[ours_name] * vectors[name]).sum(axis=1)
            rms, most = np.sqrt(np.mean(diff**2)), np.abs(diff).max()
            print(
                f"| {ours_name} resize vs {label} | {rms:.3f} | {most:.0f} | "
                f"{cosines.min():.6f} | {cosines.mean():.6f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["engine", "encoder", "preprocess"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--config", default="ruclip-vit-base-patch32-384", choices=list(PUBLISHED_CONFIGS))
    parser.add_argument("--count", type=int, default=512)
    parser.add_argument("--size", default="4000x3000")
    parser.add_argument("--batch", type=int, default=0, help="0: from free GPU memory")
    parser.add_argument("--batches", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--images", type=int, default=8192, help="encoder: images per batch size")
    parser.add_argument("--readers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--compare-cpu", type=int, default=0, help="also run the CPU engine on this many files")
    parser.add_argument("--decoder", default="pillow", help="preprocess on the CPU: pillow or torchvision")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        {"engine": engine_command, "encoder": encoder_command, "preprocess": preprocess_command}[args.what](
            args, Path(scratch)
        )


if __name__ == "__main__":
    main()
