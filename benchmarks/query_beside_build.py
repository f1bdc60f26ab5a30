"""Text queries while a build runs on the same machine: what a user of the page waits for when an
indexer (`build` or `watch`) is busy beside it.

    python benchmarks/query_beside_build.py                 # ViT-B/32-384 (random weights), 48 JPEGs of 12 MP
    python benchmarks/query_beside_build.py --queries 150 --photos 96

For each setting (the query side's torch threads; the build's niceness) it times --queries text
queries through PhotoIndex.search on a quiet machine, then again while `python -m indexer build`
indexes --photos 12-MP JPEGs in another process, and prints p50 / p90 / p99 and the build's
images/s. Every query is new text (the term cache would otherwise answer repeats). The queried
index is a synthetic one of --rows vectors, so the time is the query's (encode + search), not a
replay of the build's rows.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.index import BPE, make_photos  # noqa: E402
from search import PhotoIndex  # noqa: E402
from search.clip.config import PUBLISHED_CONFIGS  # noqa: E402
from search.clip.folder import file_fingerprint, find_weights  # noqa: E402
from search.testing import clustered_unit_vectors, make_random_checkpoint, write_synthetic_index  # noqa: E402

WORDS = (
    "кот собака море закат дети пляж снег горы лес река город ночь дождь цветы машина поезд дом окно "
    "подоконник рыжий белый чёрный синий зелёный старый маленький большой спит бежит сидит летом зимой "
    "осенью весной праздник свадьба друзья бабушка торт улица мост парк озеро небо облака солнце"
).split()


def queries(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    made: set[str] = set()
    while len(made) < count:
        made.add(" ".join(rng.sample(WORDS, rng.randint(2, 5))))
    return sorted(made)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def time_queries(index: PhotoIndex, texts: list[str], stop_when=None) -> list[float]:
    times = []
    for text in texts:
        if stop_when is not None and stop_when():
            break
        started = time.perf_counter()
        index.search(text, k=24)
        times.append((time.perf_counter() - started) * 1000)
    return times


def build_ended(build: subprocess.Popen):
    return lambda: build.poll() is not None


def start_build(model: Path, photos: Path, index: Path, nice: int | None) -> subprocess.Popen:
    command = [sys.executable, "-m", "indexer", "build", str(photos), "--index", str(index), "--model", str(model)]
    command += ["--device", "cpu", "--quiet"]
    if nice is not None:
        command += ["--nice", str(nice)]
    return subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def main() -> None:
    os.environ["LANGUAGE"] = "en"  # the build's summary is read for its rate: in English
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ruclip-vit-base-patch32-384", choices=sorted(PUBLISHED_CONFIGS))
    parser.add_argument("--queries", type=int, default=120)
    parser.add_argument("--photos", type=int, default=48)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument(
        "--settings",
        default="2:0,1:0,2:10,1:10",
        help="comma-separated QUERY_THREADS:BUILD_NICE pairs (nice 0: the build as before)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="query-beside-build-") as scratch:
        scratch = Path(scratch)
        model = make_random_checkpoint(scratch / "model", PUBLISHED_CONFIGS[args.model], BPE)
        fingerprint = file_fingerprint(find_weights(model))
        dim = PUBLISHED_CONFIGS[args.model].embed_dim
        vectors = clustered_unit_vectors(args.rows, dim, clusters=50, seed=0)
        write_synthetic_index(scratch / "queried", vectors, model_name=str(model), fingerprint=fingerprint)
        make_photos(scratch / "photos", args.photos, (4000, 3000))
        texts = queries(args.queries * 2 * len(args.settings.split(",")) + 10, seed=1)
        next_text = iter(texts)

        rows = []
        for setting in args.settings.split(","):
            threads, nice = (int(part) for part in setting.split(":"))
            index = PhotoIndex(scratch / "queried", model=str(model), device="cpu", query_threads=threads)
            index.search("прогрев", k=24)  # first-call costs (allocations, oneDNN primitives) are not a query's
            quiet = time_queries(index, [next(next_text) for _ in range(args.queries)])
            target = scratch / f"built-{threads}-{nice}"
            build = start_build(model, scratch / "photos", target, nice if nice else None)
            time.sleep(4)  # past start-up: the decode workers and the encoder are busy
            busy = time_queries(index, [next(next_text) for _ in range(args.queries)], build_ended(build))
            output = build.communicate(timeout=3600)
            if build.returncode != 0:
                raise SystemExit(f"the build failed: {output[1][-2000:]}")
            rate = re.search(r"indexed \d+ \(([\d.]+) images/s\)", output[0])
            rows.append((threads, nice, quiet, busy, float(rate[1]) if rate else float("nan")))

    flags = sorted(set(re.findall(r"\b(avx2|avx512\w*|amx\w*)\b", Path("/proc/cpuinfo").read_text())))
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, flags: {' '.join(flags)}")
    print(f"{args.model} (random weights), queried index {args.rows} vectors, build of {args.photos} JPEGs 4000×3000")
    print()
    print(
        "| query threads | build nice | quiet p50 ms | quiet p99 ms | beside build p50 ms | p90 ms | p99 ms "
        "| queries | build img/s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for threads, nice, quiet, busy, rate in rows:
        if not busy:
            quiet_part = f"{statistics.median(quiet):.1f} | {percentile(quiet, 0.99):.1f}"
            print(f"| {threads} | {nice} | {quiet_part} | (build ended first) | | | 0 | {rate:.2f} |")
            continue
        print(
            f"| {threads} | {nice} | {statistics.median(quiet):.1f} | {percentile(quiet, 0.99):.1f} | "
            f"{statistics.median(busy):.1f} | {percentile(busy, 0.9):.1f} | {percentile(busy, 0.99):.1f} | "
            f"{len(busy)} | {rate:.2f} |"
        )


if __name__ == "__main__":
    main()
