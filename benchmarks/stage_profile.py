"""Where the core-seconds of a build and of one command-line search go, on this machine.

    python benchmarks/stage_profile.py                   # 200 × 12 MP JPEGs, ViT-B/32-224 stand-in
    python benchmarks/stage_profile.py --count 40 --workdir /tmp/profile

The build: the real CLI (`python -m indexer build`, defaults, the model already exported and its tags'
vocabulary cached by an untimed first build) timed as a whole, with the CPU time of its whole process
tree (getrusage of the children); its own per-stage busy times (the summary's `--json` stages: what
the decoding processes and the encoder were busy with); and, per photo on a sample of --sample files,
the parts of a decode measured in this process with the same functions (`search.images`): reading
and hashing the file, decoding at reduced size, squaring, a picture's print, and pickling the square
as the hand-over to the encoder does. "Idle" is cores × wall − CPU: cores that waited.

The search: one `python -m indexer search` process with every call loading everything
(RUPHOTO_SEARCH_HELPER_IDLE=0), split by `-X importtime` (the packages it imports) and the rest;
then the same work in this process, timed by phase: opening the index (the ONNX text tower's
session, SQLite), encoding the query, ranking (FAISS) and building the hits (SQLite).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from index import make_photos  # noqa: E402

BPE = REPO_ROOT / "tests" / "data" / "golden" / "tiny" / "model" / "bpe.model"
QUERY = "рыжий кот на подоконнике"
# The CLI's build (its defaults), then its stage clocks as JSON: what `python -m indexer build` runs.
BUILD_AND_PRINT_STAGES = """
import json, sys
from indexer.build import BuildOptions, build_index
photos, model, index = sys.argv[1:]
summary = build_index(photos, BuildOptions(index_dir=index, model=model, progress=False))
stages = {name: {"images": clock.images, "busy_s": clock.busy_s} for name, clock in summary.stages.clocks.items()}
print(json.dumps({"stages": stages}))
"""
PACKAGES = ("numpy", "faiss", "sqlalchemy", "onnxruntime", "PIL", "youtokentome", "search", "indexer", "torch")


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build_profile(photos: Path, model: Path, work: Path, env: dict[str, str], sample: int) -> None:
    from search.clip.config import ModelConfig
    from search.images.decode import DRAFT_FACTOR
    from search.images.facts import file_hash
    from search.images.open import load_image
    from search.images.picture_print import picture_print
    from search.images.square import square_pixels

    command = [sys.executable, "-c", BUILD_AND_PRINT_STAGES, str(photos), str(model)]
    warm = work / "warm-index"
    shutil.rmtree(warm, ignore_errors=True)
    subprocess.run([*command, str(warm)], cwd=REPO_ROOT, env=env, capture_output=True, check=True)
    index = work / "index"
    shutil.rmtree(index, ignore_errors=True)
    cpu_before, started = cpu_of_children(), time.perf_counter()
    done = subprocess.run([*command, str(index)], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - started, cpu_of_children() - cpu_before
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    cores = os.cpu_count() or 1
    count = len(list(photos.glob("*.jpg")))
    print(f"\nBuild of {count} photos: {wall:.2f} s wall, {cpu:.2f} core-s ({cpu / wall:.2f} of {cores} cores busy)")
    print("| stage (the build's own clocks) | photos | busy s (of its workers together) | share of the CPU |")
    print("| --- | --- | --- | --- |")
    for name, stage in summary.get("stages", {}).items():
        busy = float(stage.get("busy_s", 0.0))
        print(f"| {name} | {stage.get('images', '')} | {busy:.2f} | {busy / cpu:.0%} |")
    print(f"| idle (cores × wall − CPU) | | {cores * wall - cpu:.2f} | |")

    resolution = ModelConfig.from_file(model / "config.json").image_resolution
    parts: dict[str, list[float]] = {}

    def timed(name: str, function, *args):
        started = time.process_time()
        value = function(*args)
        parts.setdefault(name, []).append(time.process_time() - started)
        return value

    for path in sorted(photos.glob("*.jpg"))[:sample]:
        timed("read and hash the file", file_hash, str(path))
        started = time.process_time()
        image = load_image(path, draft_short_side=DRAFT_FACTOR * resolution)
        parts.setdefault("decode at reduced size (JPEG draft)", []).append(time.process_time() - started)
        timed("picture's print (near-duplicates)", picture_print, image)
        square = timed("resize and square", square_pixels, image, resolution)
        timed(
            "hand-over of the square (pickle + unpickle)", lambda s: pickle.loads(pickle.dumps(s, protocol=5)), square
        )
        image.close()
    print(f"\nOne photo's decode, measured here on {sample} of them (CPU ms per photo, × {count} photos)")
    print("| part | ms per photo | core-s for the build |")
    print("| --- | --- | --- |")
    for name, values in parts.items():
        print(f"| {name} | {1000 * statistics.mean(values):.1f} | {statistics.mean(values) * count:.2f} |")


def search_profile(index: Path, env: dict[str, str], repeat: int) -> None:
    cold = {**env, "RUPHOTO_SEARCH_HELPER_IDLE": "0"}
    command = [sys.executable, "-X", "importtime", "-m", "indexer", "search", QUERY, "--index", str(index)]
    walls, imports = [], {name: [] for name in PACKAGES}
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=REPO_ROOT, env=cold, capture_output=True, text=True)
        walls.append(time.perf_counter() - started)
        seen = dict.fromkeys(PACKAGES, 0.0)
        for line in done.stderr.splitlines():
            if line.startswith("import time:"):
                _, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
                if name in seen:
                    seen[name] = int(cumulative) / 1e6
        for name, seconds in seen.items():
            imports[name].append(seconds)
    interpreter = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=cold, check=True)
        interpreter.append(time.perf_counter() - started)
    wall = statistics.median(walls)
    print(f"\nOne command-line search, every call loading everything: {wall:.2f} s (median of {repeat})")
    print("| phase | seconds | share |")
    print("| --- | --- | --- |")
    rows = [("interpreter start-up", statistics.median(interpreter))]
    rows += [
        (f"import {name} (with what it imports)", statistics.median(values))
        for name, values in imports.items()
        if max(values) > 0
    ]
    for name, seconds in rows:
        print(f"| {name} | {seconds:.3f} | {seconds / wall:.0%} |")

    os.environ.update(cold)
    import search

    phases: dict[str, float] = {}
    started = time.perf_counter()
    opened = search.open_index(index)
    phases["open the index (model session, SQLite, FAISS file)"] = time.perf_counter() - started
    vectors = opened._query_vectors
    request = search.SearchRequest.of(QUERY)
    started = time.perf_counter()
    opened.run(request)
    phases["first query (encode, rank, hits)"] = time.perf_counter() - started
    times = {"encode the query": [], "the whole query, warm": []}
    for _ in range(20):
        vectors.clear_cache()
        started = time.perf_counter()
        opened.model.encode_texts([QUERY])
        times["encode the query"].append(time.perf_counter() - started)
        vectors.clear_cache()
        started = time.perf_counter()
        opened.run(request)
        times["the whole query, warm"].append(time.perf_counter() - started)
    print("| in one process | seconds |")
    print("| --- | --- |")
    for name, seconds in phases.items():
        print(f"| {name} | {seconds:.3f} |")
    for name, values in times.items():
        print(f"| {name} (median of 20) | {statistics.median(values):.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--sample", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ruphoto-profile"))
    args = parser.parse_args()
    from search.clip.config import PUBLISHED_CONFIGS
    from search.testing import make_random_checkpoint

    work = args.workdir.absolute()
    model = work / "model-b32-224"
    if not (model / "config.json").exists():
        make_random_checkpoint(model, dataclasses.replace(PUBLISHED_CONFIGS["ruclip-vit-base-patch32-224"]), BPE)
    photos = work / f"photos-{args.count}"
    if len(list(photos.glob("*.jpg"))) != args.count:
        shutil.rmtree(photos, ignore_errors=True)
        make_photos(photos, args.count, (4000, 3000))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"LANGUAGE": "en", "RUPHOTO_CACHE": str(work / "cache"), "PYTHONPYCACHEPREFIX": str(work / "pycache")}
    os.environ["RUPHOTO_CACHE"] = env["RUPHOTO_CACHE"]
    build_profile(photos, model, work, env, args.sample)
    search_profile(work / "index", env, args.repeat)


if __name__ == "__main__":
    main()
