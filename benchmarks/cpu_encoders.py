"""The image tower on this CPU, by runtime and precision: speed and parity with torch fp32.

    python benchmarks/cpu_encoders.py                                   # ViT-B/32 at 224 and 256 px
    python benchmarks/cpu_encoders.py --config ruclip-vit-base-patch32-384 --resolutions 384

Each runtime runs in a process of its own (fresh threads and allocator, one intra-op thread per core)
on the same random weights in the published format and the same uint8 squares, as a build hands them
over: torch fp32 (`RUPHOTO_NO_ONNX=1`), torch `precision="int8"`, torch `precision="bf16"` (autocast;
native only on CPUs with avx512_bf16 or AMX), the ONNX Runtime export a CPU build uses by default
(search/clip/onnx_model.py), and its int8 image tower (`--precision int8`, search/clip/onnx_quantize.py).
Time: the median of --repeats batches after one warm-up, per image. Parity: max |Δ| and the minimum
cosine of the unit vectors against torch fp32 in the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

BPE = REPO_ROOT / "tests" / "data" / "golden" / "tiny" / "model" / "bpe.model"
RUNTIMES = ("torch fp32", "torch int8", "torch bf16", "onnxruntime fp32", "onnxruntime int8")


def worker(runtime: str, folder: Path, squares_file: Path, repeats: int, out: Path) -> None:
    squares = np.load(squares_file)
    if runtime.startswith("onnxruntime"):
        from search.clip.folder import file_fingerprint, find_weights
        from search.clip.onnx_model import load_onnx_model

        fingerprint = file_fingerprint(find_weights(folder))
        model = load_onnx_model(str(folder), folder, fingerprint, "image", precision=runtime.split()[1])
        assert model is not None, "the export or the quantization failed"
    else:
        from search.clip.encoder import load_model

        model = load_model(str(folder), device="cpu", precision=runtime.split()[1])
    model.encode_squares(squares)  # warm-up: sessions, allocator, oneDNN kernels
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        vectors = model.encode_squares(squares)
        times.append(time.perf_counter() - started)
    np.save(out, vectors)
    print(json.dumps({"per_image_ms": 1000 * statistics.median(times) / len(squares)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="ruclip-vit-base-patch32-224")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[224, 256])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        runtime, folder, squares, repeats, out = args.worker
        worker(runtime, Path(folder), Path(squares), int(repeats), Path(out))
        return

    from search.clip.config import PUBLISHED_CONFIGS
    from search.testing import make_random_checkpoint

    flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    shown = [flag for flag in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if f" {flag}" in flags]
    print(f"CPU flags: {' '.join(shown)}; {os.cpu_count()} cores; batch {args.batch}; {args.config}")
    print("| resolution | runtime | ms per image | × torch fp32 | max abs diff | min cosine |")
    print("| --- | --- | --- | --- | --- | --- |")
    env = {**os.environ, "RUPHOTO_CACHE": tempfile.mkdtemp(prefix="cpu-encoders-cache-")}
    for resolution in args.resolutions:
        with tempfile.TemporaryDirectory() as work:
            work = Path(work)
            config = dataclasses.replace(PUBLISHED_CONFIGS[args.config], image_resolution=resolution)
            folder = make_random_checkpoint(work / "model", config, BPE)
            squares = np.random.default_rng(0).integers(0, 256, (args.batch, resolution, resolution, 3), dtype=np.uint8)
            np.save(work / "squares.npy", squares)
            results = {}
            for runtime in RUNTIMES:
                out = work / f"{runtime.replace(' ', '-')}.npy"
                command = [sys.executable, __file__, "--worker", runtime, str(folder), str(work / "squares.npy")]
                done = subprocess.run(
                    [*command, str(args.repeats), str(out)], capture_output=True, text=True, env=env, cwd=REPO_ROOT
                )
                if done.returncode != 0:
                    print(f"| {resolution} | {runtime} | failed: {done.stderr.strip().splitlines()[-1]} | | | |")
                    continue
                results[runtime] = (json.loads(done.stdout.strip().splitlines()[-1])["per_image_ms"], np.load(out))
            base_ms, base = results["torch fp32"]
            for runtime, (ms, vectors) in results.items():
                diff = float(np.abs(vectors - base).max())
                cosine = float((vectors * base).sum(axis=1).min())
                print(f"| {resolution} | {runtime} | {ms:.1f} | {base_ms / ms:.2f} | {diff:.1e} | {cosine:.5f} |")


if __name__ == "__main__":
    main()
