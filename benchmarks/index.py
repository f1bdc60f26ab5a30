"""Folder of real-size JPEGs -> index: `python -m indexer build` against the reference's loop.

    python benchmarks/index.py                       # 64 JPEGs of 4000×3000, ViT-B/32-384, CPU
    python benchmarks/index.py --count 512 --device cuda --distinct --skip-reference

The reference loop is what a ruclip 0.0.2 user writes: one process, PIL open + convert, the
reference transform (centre crop, bilinear resize, normalise; ours is value-identical, see the golden
tests), the reference model's encode_image in batches of 32, no overlap. Ours is the real CLI,
start-up and model load included. Both use the same random checkpoint in the published format.
The photos are real pictures (scikit-image samples) upscaled to 12 MP with film grain, saved at q=90.
The fast JPEG path (DCT-scaled decoding) is compared with exact decoding: cosine of the embeddings
and the RMS difference of the model's input pixels.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import search  # noqa: E402
from search.clip.config import PUBLISHED_CONFIGS  # noqa: E402
from search.clip.preprocess import preprocess_image  # noqa: E402
from search.images.decode import DRAFT_FACTOR  # noqa: E402
from search.images.facts import PhotoFacts  # noqa: E402
from search.images.open import load_image  # noqa: E402
from search.images.square import square_pixels  # noqa: E402
from search.testing import make_random_checkpoint, reference_model_module  # noqa: E402

BPE = REPO_ROOT / "tests" / "data" / "golden" / "tiny" / "model" / "bpe.model"
SOURCES = sorted((REPO_ROOT / "data" / "demo" / "backgrounds").glob("*.jpg"))


def make_photos(folder: Path, count: int, size: tuple[int, int]) -> list[Path]:
    rng = np.random.default_rng(0)
    sources = [Image.open(p).convert("RGB") for p in SOURCES]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        base = sources[i % len(sources)].rotate(float(rng.uniform(-8, 8)), expand=False)
        big = np.asarray(base.resize(size, Image.Resampling.BICUBIC), dtype=np.float32)
        grain = rng.normal(0, 6, big.shape).astype(np.float32)  # sensor noise: real JPEG entropy
        path = folder / f"IMG_{i:04d}.jpg"
        Image.fromarray(np.clip(big + grain, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def reference_loop(model_dir: Path, paths: list[Path], device: str, batch: int = 32) -> float:
    network = reference_model_module().CLIP.from_pretrained(str(model_dir)).eval().to(device)
    config = search.ModelConfig.from_file(model_dir / "config.json")
    started = time.perf_counter()
    with torch.no_grad():
        for start in range(0, len(paths), batch):
            pixels = torch.stack(
                [
                    preprocess_image(Image.open(p).convert("RGB"), config.image_resolution, config.mean, config.std)
                    for p in paths[start : start + batch]
                ]
            )
            features = network.encode_image(pixels.to(device))
            (features / features.norm(dim=-1, keepdim=True)).cpu()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def ours(model_dir: Path, photos: Path, index: Path, device: str, workers: int, precision: str = "auto") -> float:
    command = [sys.executable, "-m", "indexer", "build", str(photos), "--index", str(index), "--model", str(model_dir)]
    command += ["--device", device, "--quiet", "--workers", str(workers), "--precision", precision]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or not re.search(r"failed 0\b", result.stdout):
        raise SystemExit(f"indexer failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def ours_summary(model_dir: Path, photos: Path, index: Path, *extra: str) -> tuple[float, str]:
    """(seconds, the summary's stage-rates line) of one `indexer build` run, start-up included."""
    command = [sys.executable, "-m", "indexer", "build", str(photos), "--index", str(index), "--model", str(model_dir)]
    started = time.perf_counter()
    result = subprocess.run(
        [*command, "--device", "cpu", "--quiet", *extra], cwd=REPO_ROOT, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or not re.search(r"failed 0\b", result.stdout):
        raise SystemExit(f"indexer failed:\n{result.stdout}\n{result.stderr}")
    rates = next((line.strip() for line in result.stdout.splitlines() if "stage rates" in line), "")
    return elapsed, rates.removeprefix("stage rates while busy: ")


def writer_rates(
    folder: Path, dim: int, rows: int, batch: int = 256
) -> tuple[float, list[tuple[int, float]], list[tuple[int, float]]]:
    """The driver's single writer alone: rows/s committed to SQLite with their vectors (FAISS
    checkpoints every 1,024 rows included), and the seconds one checkpoint takes at growing sizes."""
    from indexer.build import FAISS_CHECKPOINT_MIN_IMAGES
    from indexer.scan import FoundFile
    from indexer.write import IndexWriter
    from search.store import IndexedImage
    from search.store.index_store import IndexStore
    from search.store.records import ModelRecord
    from search.store.vectors import catch_up, save_vectors

    rng = np.random.default_rng(0)
    store = IndexStore(folder, create=True)
    root_id = store.add_root(Path("/photos"))
    store.record_model(ModelRecord("benchmark", "0" * 64, dim))
    writer = IndexWriter(store, folder, root_id, dim, checkpoint_min_images=FAISS_CHECKPOINT_MIN_IMAGES)
    checkpoints, segments = [], []  # segments: (rows written so far, rows/s over the last quarter)
    started = segment_start = time.perf_counter()
    quarter = max(batch, rows // 4)
    for start in range(0, rows, batch):
        vectors = rng.standard_normal((min(batch, rows - start), dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        written = [
            IndexedImage(
                FoundFile(f"/photos/{start + i:09d}.jpg", 3_000_000 + i, start + i),
                vector,
                PhotoFacts(width=4000, height=3000, taken_at=None, camera=None, content_hash=f"{start + i:064x}"),
            )
            for i, vector in enumerate(vectors)
        ]
        writer.write(written)
        if (start + batch) % quarter < batch:
            now = time.perf_counter()
            segments.append((start + len(written), quarter / (now - segment_start)))
            segment_start = now
    writer.finish()
    rate = rows / (time.perf_counter() - started)
    for _ in range(3):  # one checkpoint with nothing new: the cost of rewriting the whole FAISS file
        began = time.perf_counter()
        save_vectors(folder, store, catch_up(store, writer.vectors, dim))
        checkpoints.append((writer.vectors.ntotal, time.perf_counter() - began))
    store.close()
    return rate, checkpoints, segments


def ray_comparison(args: argparse.Namespace, size: tuple[int, int]) -> None:
    """The local engine and build --ray on the same folder in one run, then the writer alone."""
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        model_dir = make_random_checkpoint(work / "model", PUBLISHED_CONFIGS[args.config], BPE)
        print(f"writing {args.count} JPEGs of {size[0]}×{size[1]} …", file=sys.stderr)
        make_photos(work / "photos", args.count, size)
        local_s, local_rates = ours_summary(model_dir, work / "photos", work / "local")
        ray_s, ray_rates = ours_summary(model_dir, work / "photos", work / "ray", "--ray", args.ray_address)
        dim = PUBLISHED_CONFIGS[args.config].embed_dim
        write_rate, checkpoints, segments = writer_rates(work / "writer", dim, args.writer_rows)
    print(f"\n{_machine()}, {args.config}, random weights")
    print(f"{args.count} JPEGs {size[0]}×{size[1]}; Ray: --ray {args.ray_address}\n")
    print("| engine | seconds (start-up included) | images/s | stage rates while busy |")
    print("| --- | --- | --- | --- |")
    print(f"| local (worker processes) | {local_s:.1f} | {args.count / local_s:.2f} | {local_rates} |")
    print(f"| build --ray | {ray_s:.1f} | {args.count / ray_s:.2f} | {ray_rates} |")
    print(
        f"\nthe single writer alone: {write_rate:,.0f} rows/s ({args.writer_rows:,} rows of {dim} floats, batches "
        "of 256, FAISS checkpoint every 1,024)"
    )
    print("  by quarter: " + ", ".join(f"{rate:,.0f} rows/s up to {done:,}" for done, rate in segments))
    for total, seconds in checkpoints[-1:]:
        print(f"one FAISS checkpoint at {total:,} vectors: {seconds * 1000:.0f} ms")


def _machine() -> str:
    flags = ""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
        flags = " ".join(flag for flag in wanted if f" {flag}" in cpuinfo)
    except OSError:
        pass
    processor = platform.processor() or platform.machine()
    return f"machine: {processor}, {os.cpu_count()} cores ({flags}), torch {torch.__version__}"


def fast_path_error(model_dir: Path, paths: list[Path]) -> tuple[float, float, float]:
    """(min cosine, mean cosine, RMS pixel difference in 0..255) of draft vs exact decoding."""
    model = search.load_model(model_dir, device="cpu")
    resolution = model.config.image_resolution
    exact = np.stack([square_pixels(load_image(p), resolution) for p in paths])
    fast = np.stack(
        [square_pixels(load_image(p, draft_short_side=DRAFT_FACTOR * resolution), resolution) for p in paths]
    )
    cosines = np.sum(model.encode_squares(exact) * model.encode_squares(fast), axis=1)
    rms = float(np.sqrt(np.mean((exact.astype(np.float32) - fast.astype(np.float32)) ** 2)))
    return float(cosines.min()), float(cosines.mean()), rms


def main() -> None:
    os.environ["LANGUAGE"] = "en"  # the builds' summaries are read for "failed 0" and the stage rates: in English
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--size", default="4000x3000")
    parser.add_argument("--config", default="ruclip-vit-base-patch32-384", choices=list(PUBLISHED_CONFIGS))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument(
        "--distinct",
        action="store_true",
        help="16 distinct pictures made in parallel, each file unique by a JPEG comment (fast for --count 512+)",
    )
    parser.add_argument(
        "--ray",
        nargs="?",
        const="local",
        dest="ray_address",
        metavar="ADDRESS",
        help="compare the local engine with build --ray (local: a Ray on this machine) and time the writer alone",
    )
    parser.add_argument("--writer-rows", type=int, default=50_000, help="rows the writer-alone test commits")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    if args.ray_address:
        ray_comparison(args, size)
        return

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        model_dir = make_random_checkpoint(work / "model", PUBLISHED_CONFIGS[args.config], BPE)
        print(f"writing {args.count} JPEGs of {size[0]}×{size[1]} …", file=sys.stderr)
        if args.distinct:
            from benchmarks.gpu_pipeline import make_jpegs

            paths = make_jpegs(work / "photos", args.count, size)
        else:
            paths = make_photos(work / "photos", args.count, size)
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        ours_s = ours(model_dir, work / "photos", work / "index", args.device, args.workers)
        int8_s = None
        if args.device == "cpu":
            int8_s = ours(model_dir, work / "photos", work / "index-int8", args.device, args.workers, "int8")
        reference_s = None if args.skip_reference else reference_loop(model_dir, paths, args.device)
        cos_min, cos_mean, rms = fast_path_error(model_dir, paths[: min(16, len(paths))])

    machine = platform.processor() or platform.machine()
    print(f"\nmachine: {machine}, {os.cpu_count()} cores, torch {torch.__version__}, device {args.device}")
    print(f"{args.count} JPEGs {size[0]}×{size[1]} ({megabytes:.0f} MB), {args.config}, random weights\n")
    print("| pipeline | seconds | images/s | speed-up |")
    print("| --- | --- | --- | --- |")
    if reference_s is not None:
        print(f"| reference loop (1 process, batch 32) | {reference_s:.1f} | {args.count / reference_s:.2f} | 1.00× |")
    speedup = f"{reference_s / ours_s:.2f}×" if reference_s else "–"
    print(
        f"| python -m indexer build ({args.workers} workers, start-up included) | {ours_s:.1f} | "
        f"{args.count / ours_s:.2f} | {speedup} |"
    )
    if int8_s is not None:
        speedup = f"{reference_s / int8_s:.2f}×" if reference_s else "–"
        label = "python -m indexer build --precision int8 (not exact)"
        print(f"| {label} | {int8_s:.1f} | {args.count / int8_s:.2f} | {speedup} |")
    print(
        f"\nfast JPEG path vs exact decoding (16 photos): cosine min {cos_min:.5f}, mean {cos_mean:.5f}; "
        f"RMS pixel difference {rms:.2f} / 255"
    )


if __name__ == "__main__":
    main()
