"""This project beside rclip, the command-line peer, on the same machine in one interleaved run.

    python benchmarks/peer.py                          # 5 rounds, 200 photos of each size, 100 000 for search
    python benchmarks/peer.py --quick                  # 1 round, 24 photos, 5 000 for search: a smoke run
    python benchmarks/peer.py --workdir /tmp/peer      # keep (and reuse) the venv, models, photos and indexes

rclip (https://github.com/yurijmikhalevich/rclip) is installed into a virtual environment of its own
under --workdir: --rclip-version (default 4.0.8, the release the issue measured), else, when this
machine's package index does not hold it, the newest release it does hold (the table says which).
Both tools get random-weight stand-ins of their models in their real formats, so nothing is downloaded:
- rclip: `$RCLIP_DATADIR/ViT-B-32-256-datacomp_s34b_b86k/{visual,textual}.onnx` with its input and
  output names ("input" -> "output"; pixels (N, 3, 256, 256) float32, tokens (N, 77) int64), a ViT-B/32
  image tower at 256 px and CLIP's 12-layer text tower, exported from this project's CLIP module (the
  same layers and widths as open_clip's ViT-B-32-256); the tokenizer vocabulary is open_clip's
  bpe_simple_vocab_16e6.txt.gz (taken from the open_clip_torch wheel); the licence files it checks for
  are empty placeholders.
- ours: ruclip-vit-base-patch32-224 (the published shape) and the same network at 256 px (rclip's input
  size: equal work), in the published checkpoint format (search.testing.make_random_checkpoint); the
  256 px network is also built with `--precision int8` (the opt-in quantized image tower, not exact).

Every figure is the command a user types, in a process of its own, start-up included; ours and rclip
alternate within each round, and the table shows medians over rounds (p90 beside p50 for searches).
- build: ours `python -m indexer build PHOTOS --index NEW` (defaults); rclip has no index-only command,
  so its row is `rclip -t 1 QUERY` run in the folder with a fresh data folder (indexing + one query).
  The models' one-time preparation (our ONNX export of a new model, our tags' vocabulary, both
  cached per model) happens in an untimed warm-up build.
- peak memory of a build: the whole process tree (the command and every process it starts), sampled
  from /proc every 20 ms: the sum of PSS (shared pages split between the processes that share them).
- unchanged re-run: the same command again with nothing changed.
- a command-line search: ours `python -m indexer search QUERY --index IDX`, once with every call a
  fresh process that loads everything (RUPHOTO_SEARCH_HELPER_IDLE=0) and once as a user gets it by
  default (the first search starts the warm helper; the others are answered by it); rclip
  `rclip --no-indexing -t 10 QUERY` in the folder (without its re-index check: ours has none either). At
  --big-count photos nothing is encoded: ours is written as a build leaves it (benchmarks/startup.py),
  rclip's database is filled through its own DB class with random unit vectors; both folders hold the
  files (distinct tiny JPEGs).
- the warm Python API: `search.open_index(IDX)` once, then `.search(QUERY)` timed over --api-repeat calls.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from index import make_photos  # noqa: E402
from startup import write_matching_index  # noqa: E402

from search.clip.config import PUBLISHED_CONFIGS, ModelConfig  # noqa: E402

BPE = REPO_ROOT / "tests" / "data" / "golden" / "tiny" / "model" / "bpe.model"
RCLIP_MODEL_SUBDIR = "ViT-B-32-256-datacomp_s34b_b86k"
RCLIP_LEGAL_FILES = ("LICENSE", "OPENAI-CLIP-MIT.txt", "README.md", "THIRD_PARTY_NOTICES.md")
OUR_QUERY, RCLIP_QUERY = "рыжий кот на подоконнике", "a ginger cat on a windowsill"
SIZES = {"12 MP": (4000, 3000), "1024×768": (1024, 768)}


# ---- set-up ---------------------------------------------------------------------------------------


def rclip_venv(work: Path, version: str) -> tuple[Path, str]:
    """rclip installed in work/rclip-venv: (its `rclip` script, the version installed)."""
    venv = work / f"rclip-venv-{version}"
    script = venv / "bin" / "rclip"
    if not script.exists():
        # rclip 4 needs Python >= 3.12; this project's venv may be older.
        python = python_for_rclip()
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        if subprocess.run([*pip, f"rclip=={version}"], capture_output=True, text=True).returncode != 0:
            print(
                f"rclip {version} is not on this machine's package index; installing the newest it holds",
                file=sys.stderr,
            )
            subprocess.run([*pip, "rclip"], check=True)
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('rclip'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return script, installed


def python_for_rclip() -> str:
    """A Python ≥ 3.12 for rclip 4 (python3.13/3.12 on PATH, pyenv's versions), else this one."""
    candidates = [
        "python3.13",
        "python3.12",
        *map(str, sorted(Path.home().glob(".pyenv/versions/3.1[23]*/bin/python3"))),
    ]
    for candidate in candidates:
        check = [candidate, "-c", "import sys; sys.exit(sys.version_info < (3, 12))"]
        if shutil.which(candidate) and subprocess.run(check, capture_output=True).returncode == 0:
            return candidate
    return sys.executable


def rclip_config() -> ModelConfig:
    """CLIP ViT-B/32 at 256 px with CLIP's own text tower: the shape of rclip's ONNX model."""
    base = PUBLISHED_CONFIGS["ruclip-vit-base-patch32-224"]
    return dataclasses.replace(
        base, image_resolution=256, context_length=77, vocab_size=49408, transformer_width=512, embed_dim=512
    )


def rclip_models(work: Path) -> Path:
    """A folder of rclip's model files with random weights (made once); RCLIP_DATADIRs link to it."""
    folder = work / "rclip-model"
    if (folder / RCLIP_MODEL_SUBDIR / "textual.onnx").exists():
        return folder
    import torch

    from search.clip.model import CLIP
    from search.testing import random_network

    subdir = folder / RCLIP_MODEL_SUBDIR
    subdir.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer").mkdir(exist_ok=True)
    network = random_network(rclip_config(), seed=1).eval()

    class Visual(torch.nn.Module):
        def __init__(self, clip: CLIP):
            super().__init__()
            self.clip = clip

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            return self.clip.encode_image(pixels)

    class Textual(torch.nn.Module):  # all 77 positions, as open_clip's text tower computes them
        def __init__(self, clip: CLIP):
            super().__init__()
            self.clip = clip

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            clip = self.clip
            x = clip.token_embedding(tokens) + clip.positional_embedding
            eot = tokens.argmax(dim=-1)
            return clip.ln_final(clip.transformer.forward_at(x, eot)) @ clip.text_projection

    for graph, example, name in (
        (Visual(network), torch.zeros(1, 3, 256, 256), "visual.onnx"),
        (Textual(network), torch.zeros(1, 77, dtype=torch.long), "textual.onnx"),
    ):
        torch.onnx.export(
            graph,
            (example,),
            str(subdir / name),
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "n"}, "output": {0: "n"}},
            opset_version=17,
            dynamo=False,
        )
    wheels = work / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "open_clip_torch==3.3.0", "-d", str(wheels)],
        check=True,
    )
    with zipfile.ZipFile(next(wheels.glob("open_clip_torch-*.whl"))) as wheel:
        (folder / "tokenizer" / "bpe_simple_vocab_16e6.txt.gz").write_bytes(
            wheel.read("open_clip/bpe_simple_vocab_16e6.txt.gz")
        )
    for name in RCLIP_LEGAL_FILES:
        (folder / name).write_text("")
    return folder


def rclip_datadir(models: Path, target: Path) -> Path:
    """A fresh RCLIP_DATADIR: its own database, the model files linked."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    (target / RCLIP_MODEL_SUBDIR).symlink_to(models / RCLIP_MODEL_SUBDIR)
    for name in (*RCLIP_LEGAL_FILES, "tokenizer"):
        (target / name).symlink_to(models / name)
    return target


def our_models(work: Path) -> dict[str, Path]:
    from search.testing import make_random_checkpoint

    base = PUBLISHED_CONFIGS["ruclip-vit-base-patch32-224"]
    models = {}
    for resolution in (224, 256):
        folder = work / f"ours-b32-{resolution}"
        if not (folder / "config.json").exists():
            make_random_checkpoint(folder, dataclasses.replace(base, image_resolution=resolution), BPE)
        models[f"{resolution} px"] = folder
    return models


def distinct_tiny_photos(folder: Path, count: int) -> None:
    """`count` different tiny JPEGs (64×48 noise), 1000 a folder: no two are copies or near-duplicates,
    as in a real collection (identical files would make every hit list hundreds of copies)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(count)
    for i in range(count):
        path = folder / f"album_{i // 1000:04d}" / f"IMG_{i:06d}.jpg"
        if i % 1000 == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path, quality=85)


def fill_rclip_database(rclip_python: Path, datadir: Path, photos: Path) -> None:
    """rclip's database for every file under `photos`, through rclip's own DB class, random unit vectors."""
    code = f"""
import os, pathlib, numpy as np
from rclip import db
store = db.DB(pathlib.Path({str(datadir / "db.sqlite3")!r}))
rng = np.random.default_rng(0)
for folder, _, names in os.walk({str(photos)!r}):
    for name in names:
        path = os.path.join(folder, name)
        stat = os.stat(path)
        vector = rng.standard_normal(512).astype(np.float32)
        vector /= np.linalg.norm(vector)
        store.upsert_image(db.NewImage(filepath=path, modified_at=stat.st_mtime, size=stat.st_size,
                                       vector=vector.tobytes(), hash=None), commit=False)
store.commit()
"""
    subprocess.run([str(rclip_python), "-c", code], check=True)


# ---- measuring ------------------------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    todo, seen = [pid], []
    while todo:
        current = todo.pop()
        seen.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    todo += [int(child) for child in handle.read().split()]
        except OSError:
            pass
    return seen


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            return next(int(line.split()[1]) for line in handle if line.startswith("Pss:"))
    except (OSError, StopIteration):
        return 0


@dataclasses.dataclass
class Run:
    seconds: float
    peak_mb: float
    output: str


def run(command: list[str], cwd: Path, env: dict[str, str], sample_memory: bool = False) -> Run:
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], sum(_pss_kb(pid) for pid in _tree(process.pid)))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    if sample_memory:
        sampler.start()
    output = process.communicate()[0]
    seconds = time.perf_counter() - started
    if sample_memory:
        sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{output[-3000:]}")
    return Run(seconds, peak[0] / 1024, output)


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, work: str, ours: list[float], theirs: list[float] | None, unit: str = "s", pct: bool = False) -> None:
        def cell(values: list[float] | None) -> str:
            if not values:
                return "—"
            if pct:
                return f"{p(values, 0.5):.2f} / {p(values, 0.9):.2f} {unit}"
            return (
                f"{statistics.median(values):.2f} {unit}" if unit == "s" else f"{statistics.median(values):.0f} {unit}"
            )

        ratio = f"{statistics.median(ours) / statistics.median(theirs):.2f}" if ours and theirs else "—"
        self.rows.append((work, cell(ours), cell(theirs), ratio))

    def print(self, rclip_version: str) -> None:
        print(f"| work | ours | rclip {rclip_version} | ours / rclip |")
        print("| --- | --- | --- | --- |")
        for row in self.rows:
            print("| " + " | ".join(row) + " |")


def machine_line() -> str:
    flags = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    shown = " ".join(
        flag for flag in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if flag in flags
    )
    import onnxruntime
    import torch

    return (
        f"{model}, {os.cpu_count()} cores ({shown}); Python {platform.python_version()}, torch {torch.__version__}, "
        f"onnxruntime {onnxruntime.__version__}"
    )


# ---- the run --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=200, help="photos of each size to index (default 200)")
    parser.add_argument("--big-count", type=int, default=100_000, help="photos for the large search (default 100000)")
    parser.add_argument("--search-repeat", type=int, default=7, help="command-line searches per round")
    parser.add_argument("--api-repeat", type=int, default=50)
    parser.add_argument("--rclip-version", default="4.0.8")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--quick", action="store_true", help="1 round, 24 photos, 5000 for search")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.count, args.big_count, args.search_repeat, args.api_repeat = 1, 24, 5000, 3, 10
    work = (args.workdir or Path(os.environ.get("TMPDIR", "/tmp")) / "ruphoto-peer").absolute()
    work.mkdir(parents=True, exist_ok=True)
    rclip, version = rclip_venv(work, args.rclip_version)
    models, ours = rclip_models(work), our_models(work)
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    base_env |= {"LANGUAGE": "en", "PYTHONPYCACHEPREFIX": str(work / "pycache"), "RUPHOTO_CACHE": str(work / "cache")}
    cold = {**base_env, "RUPHOTO_SEARCH_HELPER_IDLE": "0"}
    ours_cmd = [sys.executable, "-m", "indexer"]
    table = Table()
    print(f"machine: {machine_line()}", file=sys.stderr)

    photo_sets = {}
    for label, size in SIZES.items():
        folder = work / f"photos-{label.replace(' ', '')}-{args.count}"
        if not folder.is_dir() or len(list(folder.glob("*.jpg"))) != args.count:
            shutil.rmtree(folder, ignore_errors=True)
            print(f"writing {args.count} photos of {label} …", file=sys.stderr)
            make_photos(folder, args.count, size)
        photo_sets[label] = folder

    # What ours builds with: the published 224 px shape, rclip's 256 px (equal work), and 256 px with
    # the int8 image tower (not exact: the opt-in fast build).
    variants = {label: (model, []) for label, model in ours.items()}
    variants["256 px, --precision int8"] = (ours["256 px"], ["--precision", "int8"])
    if not args.skip_build:
        for model, options in variants.values():  # the one-time preparation of each model, untimed
            warm_index = work / "warm-up-index"
            shutil.rmtree(warm_index, ignore_errors=True)
            run(
                [
                    *ours_cmd,
                    "build",
                    str(photo_sets["1024×768"]),
                    "--index",
                    str(warm_index),
                    "--model",
                    str(model),
                    "--quiet",
                    *options,
                ],
                REPO_ROOT,
                cold,
            )
        builds: dict[str, list[float]] = {}
        memory: dict[str, list[float]] = {}
        reruns: dict[str, list[float]] = {}
        for round_ in range(args.rounds):
            for label, photos in photo_sets.items():
                for resolution, (model, options) in variants.items():
                    index = work / "index-build"
                    shutil.rmtree(index, ignore_errors=True)
                    command = [*ours_cmd, "build", str(photos), "--index", str(index), "--model", str(model), "--quiet"]
                    command += options
                    done = run(command, REPO_ROOT, cold, sample_memory=True)
                    builds.setdefault(f"ours {label} {resolution}", []).append(done.seconds)
                    memory.setdefault(f"ours {resolution}", []).append(done.peak_mb)
                    if label == "12 MP" and resolution == "224 px":
                        reruns.setdefault("ours", []).append(run(command, REPO_ROOT, cold).seconds)
                datadir = rclip_datadir(models, work / "rclip-data-build")
                env = {**base_env, "RCLIP_DATADIR": str(datadir)}
                done = run([str(rclip), "-t", "1", RCLIP_QUERY], photos, env, sample_memory=True)
                builds.setdefault(f"rclip {label}", []).append(done.seconds)
                memory.setdefault("rclip", []).append(done.peak_mb)
                if label == "12 MP":
                    reruns.setdefault("rclip", []).append(
                        run([str(rclip), "-t", "1", RCLIP_QUERY], photos, env).seconds
                    )
            print(f"round {round_ + 1}/{args.rounds} of builds done", file=sys.stderr)
        for label in SIZES:
            for resolution in variants:
                table.add(
                    f"{args.count} × {label} JPEGs → index, ours at {resolution}",
                    builds[f"ours {label} {resolution}"],
                    builds[f"rclip {label}"],
                )
        for resolution in variants:
            table.add(
                f"peak memory of a build (process tree, PSS), ours at {resolution}",
                memory[f"ours {resolution}"],
                memory["rclip"],
                unit="MB",
            )
        table.add(f"unchanged re-run, {args.count} × 12 MP", reruns["ours"], reruns["rclip"])

    if not args.skip_search:
        model = ours["224 px"]
        collections = {}
        small = work / f"search-small-{args.count}"
        if not (small / "index" / "index.sqlite").exists():
            shutil.rmtree(small, ignore_errors=True)
            shutil.copytree(photo_sets["1024×768"], small / "photos")
            run(
                [
                    *ours_cmd,
                    "build",
                    str(small / "photos"),
                    "--index",
                    str(small / "index"),
                    "--model",
                    str(model),
                    "--quiet",
                ],
                REPO_ROOT,
                cold,
            )
            datadir = rclip_datadir(models, small / "rclip-data")
            run([str(rclip), "-t", "1", RCLIP_QUERY], small / "photos", {**base_env, "RCLIP_DATADIR": str(datadir)})
        collections[args.count] = small
        big = work / f"search-big-{args.big_count}"
        if not (big / "index" / "index.sqlite").exists():
            shutil.rmtree(big, ignore_errors=True)
            print(f"writing {args.big_count} tiny photos and both tools' indexes …", file=sys.stderr)
            distinct_tiny_photos(big / "photos", args.big_count)
            os.environ["RUPHOTO_CACHE"] = base_env["RUPHOTO_CACHE"]
            write_matching_index(big / "index", big / "photos", model=str(model))
            datadir = rclip_datadir(models, big / "rclip-data")
            fill_rclip_database(rclip.parent / "python", datadir, big / "photos")
            run([str(rclip), "-t", "1", RCLIP_QUERY], big / "photos", {**base_env, "RCLIP_DATADIR": str(datadir)})
        collections[args.big_count] = big
        for count, folder in collections.items():
            index, photos = folder / "index", folder / "photos"
            query = [*ours_cmd, "search", OUR_QUERY, "--index", str(index)]
            rclip_env = {**base_env, "RCLIP_DATADIR": str(folder / "rclip-data")}
            times: dict[str, list[float]] = {"cold": [], "warm": [], "rclip": []}
            for _ in range(args.rounds):
                for _ in range(args.search_repeat):
                    times["cold"].append(run(query, REPO_ROOT, cold).seconds)
                    times["warm"].append(run(query, REPO_ROOT, base_env).seconds)
                    rclip_query = [str(rclip), "--no-indexing", "-t", "10", RCLIP_QUERY]
                    times["rclip"].append(run(rclip_query, photos, rclip_env).seconds)
            subprocess.run(["pkill", "-f", f"indexer.search_server {index}"], check=False)
            shown = f"{count:,}".replace(",", " ")
            table.add(
                f"one command-line search, {shown} photos, p50 / p90, every call loading everything",
                times["cold"],
                times["rclip"],
                pct=True,
            )
            table.add(
                f"one command-line search, {shown} photos, p50 / p90, as by default (warm helper)",
                times["warm"],
                times["rclip"],
                pct=True,
            )
        api = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, time, statistics, search\n"
                f"index = search.open_index({str(collections[args.big_count] / 'index')!r})\n"
                f"index.search({OUR_QUERY!r})\n"
                "times = []\n"
                f"for _ in range({args.api_repeat}):\n"
                "    index._query_vectors.clear_cache(); t = time.perf_counter()\n"
                f"    index.search({OUR_QUERY!r}); times.append(time.perf_counter() - t)\n"
                "print(statistics.median(times))",
            ],
            cwd=REPO_ROOT,
            env=cold,
            capture_output=True,
            text=True,
            check=True,
        )
        table.add(
            f"one search, warm Python API ({args.big_count:,} photos, text encoded each time) vs rclip's CLI".replace(
                ",", " "
            ),
            [float(api.stdout.strip().splitlines()[-1])],
            times["rclip"],
        )
    print(f"\nmachine: {machine_line()}; {args.rounds} interleaved rounds; medians")
    table.print(version)


if __name__ == "__main__":
    main()
