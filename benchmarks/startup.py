"""Start-up of an unchanged re-run: `python -m indexer build PHOTOS` when nothing changed, beside rclip.

    python benchmarks/startup.py                              # 200 and 100 000 photos, 7 timed runs each
    python benchmarks/startup.py --counts 200 --repeat 15
    python benchmarks/startup.py --rclip ~/.local/bin/rclip   # rclip 3.3.0 too (needs its model downloaded)
    python benchmarks/startup.py --workdir /tmp/startup       # keep (and reuse) the photos and indexes

Target (the issue): an unchanged re-run imports no torch and loads no model, and takes ≤ 0.5 s for
200 photos and ≤ 2 s for 100 000.

The photos are tiny JPEGs (64×48 px, 256 different pictures written round-robin) in folders of at most
1000. Up to --real-build-max photos the index is made by a real first build with the demo model.
Above it, encoding would take hours for nothing (an unchanged re-run never looks at a vector), so the
index is written directly, as the build would leave it: one row per file with the path, size and
mtime_ns that the indexer's own scan reports, the file's content hash, a random unit vector of the demo
model's size, the demo model's fingerprint and weights stat, and a current FAISS file. The first
(untimed) re-run must then report every file unchanged, or the benchmark stops.

Each timed run is the whole command as a user types it (interpreter start-up included), with a warm
page cache, from the repository root; wall time and the child's CPU time (user + system, which a busy
machine inflates less) are both reported, with the load average. Bytecode is cached as in any normal
install: the runs drop PYTHONDONTWRITEBYTECODE and write .pyc files under WORKDIR/pycache
(PYTHONPYCACHEPREFIX), not into the source tree. One more run with PYTHONPROFILEIMPORTTIME=1 tells
whether torch and faiss were imported, and which packages' imports cost most.

rclip (https://github.com/yurijmikhalevich/rclip) has no index-only command: every run checks the
current folder for changes and then answers a query, so its row is "re-index check + one query".
It downloads its ONNX model from the Hugging Face hub on first use; without that model it cannot run,
and without --rclip its row says so instead of inventing a number. With --rclip, its model files are
linked from --rclip-data (default $RCLIP_DATADIR, else ~/.local/share/rclip) into a fresh data folder,
so that its database holds only the benchmark's photos; above --real-build-max its database is filled
the same way as ours (and checked to be unchanged after its first re-run).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from indexer.model_choice import choose_model  # noqa: E402
from indexer.scan import scan_folder  # noqa: E402
from search.clip.config import ModelConfig  # noqa: E402
from search.constants import BASE_IMAGE_SUFFIXES, DEMO_MODEL  # noqa: E402
from search.images.decode import print_one  # noqa: E402
from search.images.facts import PhotoFacts, file_hash  # noqa: E402
from search.store import IndexedImage, IndexStore, ModelRecord  # noqa: E402

PHOTO_SIZE = (64, 48)
PICTURES = 256  # different JPEGs, written round-robin
FILES_PER_FOLDER = 1000
ROWS_PER_INSERT = 50_000
TARGET_S = {200: 0.5, 100_000: 2.0}
SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")

RCLIP_MODEL_ENTRIES = ("ViT-B-32-256-datacomp_s34b_b86k", "tokenizer")  # what rclip 3.3.0 downloads
RCLIP_VECTOR_SIZE = 512
RCLIP_QUERY = "red star"
RCLIP_OFFLINE_NOTE = "not runnable offline here (needs model weights from the hub); pass --rclip PATH to time it"


@dataclass
class Timing:
    label: str
    count: int | None
    wall: list[float]
    cpu: list[float]
    torch: bool | None = None
    faiss: bool | None = None

    def row(self) -> str:
        def flag(value: bool | None) -> str:
            return "–" if value is None else ("yes" if value else "no")

        median = statistics.median(self.wall)
        target = TARGET_S.get(self.count) if self.label.startswith("python -m indexer build") else None
        verdict = "–"
        if target is not None:
            verdict = f"≤ {target:g} s: " + ("met" if median <= target else "MISSED")
            if median > target >= min(self.wall):
                verdict += " (min only)"
        photos = "–" if self.count is None else f"{self.count:,}".replace(",", " ")
        return (
            f"| {self.label} | {photos} | {median:.3f} | {min(self.wall):.3f} | {statistics.median(self.cpu):.3f} | "
            f"{len(self.wall)} | {flag(self.torch)} | {flag(self.faiss)} | {verdict} |"
        )


def make_photos(folder: Path, count: int) -> list[Path]:
    """`count` tiny JPEGs under `folder`, at most FILES_PER_FOLDER per sub-folder; reused when already there."""
    paths = [folder / f"album_{i // FILES_PER_FOLDER:04d}" / f"IMG_{i:06d}.jpg" for i in range(count)]
    if folder.is_dir() and sum(1 for _ in folder.rglob("*.jpg")) == count and all(p.is_file() for p in paths[-1:]):
        return paths
    rng = np.random.default_rng(count)
    width, height = PHOTO_SIZE
    ramp = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    pictures = []
    for _ in range(min(PICTURES, count)):
        left, right = rng.uniform(0, 255, (2, 1, 1, 3)).astype(np.float32)
        pixels = left + (right - left) * ramp + rng.normal(0, 8, (height, width, 3)).astype(np.float32)
        buffer = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=85)
        pictures.append(buffer.getvalue())
    for i, path in enumerate(paths):
        if i % FILES_PER_FOLDER == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pictures[i % len(pictures)])
    return paths


def run_env(work: Path, **extra: str) -> dict[str, str]:
    """The environment of every measured command: bytecode cached outside the source tree, and the
    CLI's summary in English (LANGUAGE=en), the words this script reads in it."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(work / "pycache"), "LANGUAGE": "en", **extra}


def run_ours(photos: Path, index: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "indexer", "build", str(photos), "--index", str(index), "--quiet", *extra]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def write_matching_index(index: Path, photos: Path, seed: int = 0, model: str = DEMO_MODEL) -> None:
    """The index a first build with `model` (default: the demo's) would leave, written without encoding anything."""
    from search.store.layout import IndexKind
    from search.store.vectors import build_from_sqlite, save_vectors

    root = Path(os.path.abspath(photos))  # as build_index spells it
    store = IndexStore(index, create=True)
    try:
        choice = choose_model(store, model)  # the fingerprint and weights stat a build records
        dim = ModelConfig.from_file(choice.folder / "config.json").embed_dim
        store.record_model(ModelRecord(choice.name, choice.fingerprint, dim))
        store.record_weights_stat(choice.weights_stat)
        root_id = store.add_root(root)
        found = scan_folder(root, BASE_IMAGE_SUFFIXES, skip=[index]).files  # the planner's own view of the files
        rng = np.random.default_rng(seed)
        prints: dict[str, bytes | None] = {}  # by content: the photos repeat a few hundred pictures

        def facts_of(path: str) -> PhotoFacts:
            digest = file_hash(path)
            if digest not in prints:
                prints[digest] = print_one(path)
            return PhotoFacts(*PHOTO_SIZE, None, None, digest, picture_print=prints[digest])

        for start in range(0, len(found), ROWS_PER_INSERT):
            chunk = found[start : start + ROWS_PER_INSERT]
            vectors = rng.standard_normal((len(chunk), dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            store.add_new_images(
                root_id,
                [IndexedImage(item, vector, facts_of(item.path)) for item, vector in zip(chunk, vectors, strict=True)],
            )
        save_vectors(index, store, build_from_sqlite(store, dim, IndexKind.for_count(len(found))))
        store.record_build_finished()
    finally:
        store.close()


def prepare_ours(photos: Path, index: Path, count: int, real_build_max: int, env: dict[str, str]) -> str:
    """An index of `photos` (made once); checks that a re-run finds every file unchanged."""
    how = "first build with the demo model" if count <= real_build_max else "index written without encoding"
    if not (index / "index.sqlite").is_file():
        print(f"  {count} photos: {how} …", file=sys.stderr)
        if count <= real_build_max:
            run_ours(photos, index, env, "--model", DEMO_MODEL, "--device", "cpu")
        else:
            write_matching_index(index, photos)
    check = run_ours(photos, index, env).stdout  # also records the weights stat, as any re-run would
    expected = f"unchanged {count}, new 0, changed 0, renamed 0, deleted 0"
    if expected not in check or "nothing changed since the last build" not in check:
        raise SystemExit(f"the re-run is not unchanged (expected {expected!r}):\n{check}")
    return how


def timed(command: list[str], cwd: Path, repeat: int, env: dict[str, str]) -> tuple[list[float], list[float]]:
    """(wall seconds, CPU seconds of the child) of `repeat` runs."""
    wall, cpu = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run(command, cwd=cwd, capture_output=True, env=env)
        wall.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout.decode()}\n{result.stderr.decode()}")
    return wall, cpu


IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)$")


def imports_of(command: list[str], cwd: Path, env: dict[str, str]) -> dict[str, int]:
    """Module -> self µs of every import the command made (the profiler itself slows them down)."""
    stderr = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, env={**env, "PYTHONPROFILEIMPORTTIME": "1"}
    ).stderr
    return {match.group(4): int(match.group(1)) for line in stderr.splitlines() if (match := IMPORT_LINE.match(line))}


def imported(modules: dict[str, int], package: str) -> bool:
    return any(name == package or name.startswith(package + ".") for name in modules)


def costliest(modules: dict[str, int], top: int = 8) -> str:
    """The packages whose imports took longest (self time of all their modules), and the total."""
    by_package: dict[str, int] = {}
    for name, us in modules.items():
        by_package[name.split(".")[0]] = by_package.get(name.split(".")[0], 0) + us
    ranked = sorted(by_package.items(), key=lambda item: -item[1])[:top]
    listed = ", ".join(f"{name} {us / 1000:.0f}" for name, us in ranked)
    return f"{len(modules)} modules, {sum(modules.values()) / 1000:.0f} ms in all; by package (ms): {listed}"


# --- rclip ------------------------------------------------------------------------------------------


def rclip_default_data() -> Path:
    configured = os.environ.get("RCLIP_DATADIR")
    if configured:
        return Path(configured)
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "rclip"
    return Path.home() / ".local" / "share" / "rclip"


def rclip_env(work: Path, data: Path) -> dict[str, str]:
    return run_env(work, RCLIP_DATADIR=str(data), HF_HUB_OFFLINE="1")


def rclip_command(rclip: Path) -> list[str]:
    return [str(rclip), "--filepath-only", "--top", "1", RCLIP_QUERY]


def run_rclip(rclip: Path, cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(rclip_command(rclip), cwd=cwd, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(rclip_command(rclip))} (in {cwd}) failed:\n{result.stdout}\n{result.stderr}")


def rclip_vectors(database: Path) -> dict[str, bytes]:
    with sqlite3.connect(database) as connection:
        return dict(connection.execute("SELECT filepath, vector FROM images WHERE deleted IS NULL"))


def prepare_rclip(
    rclip: Path, models: Path, data: Path, photos: Path, count: int, real_build_max: int, env: dict[str, str]
) -> None:
    """rclip's database for `photos` in a data folder of its own, its model files linked in."""
    missing = [name for name in RCLIP_MODEL_ENTRIES if not (models / name).exists()]
    if missing:
        raise SystemExit(f"rclip's model is not in {models} (missing {', '.join(missing)}): run rclip once online")
    data.mkdir(parents=True, exist_ok=True)
    for name in RCLIP_MODEL_ENTRIES:
        if not (data / name).exists():
            (data / name).symlink_to((models / name).resolve())
    database = data / "db.sqlite3"
    if database.is_file():
        return
    print(f"  {count} photos: rclip's first index …", file=sys.stderr)
    if count <= real_build_max:
        run_rclip(rclip, photos, env)
        return
    empty = data / "empty"
    empty.mkdir(exist_ok=True)
    run_rclip(rclip, empty, env)  # rclip creates (and versions) its own schema
    root = os.path.realpath(photos)  # rclip walks os.getcwd(), which is resolved
    rng = np.random.default_rng(1)
    rows = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            stat = os.stat(path)
            vector = rng.standard_normal(RCLIP_VECTOR_SIZE).astype(np.float32)
            rows.append((path, stat.st_mtime, stat.st_size, (vector / np.linalg.norm(vector)).tobytes(), None))
    with sqlite3.connect(database) as connection:
        connection.executemany(
            "INSERT INTO images(filepath, modified_at, size, vector, hash) VALUES (?, ?, ?, ?, ?)", rows
        )
    before = rclip_vectors(database)
    run_rclip(rclip, photos, env)
    if rclip_vectors(database) != before:
        raise SystemExit("rclip re-encoded photos of the database written for it: its timing would not be a re-run")


# --- the report -------------------------------------------------------------------------------------


def machine_line() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        lscpu = ""
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    model = fields.get("Model name", "").strip() or platform.processor() or platform.machine()
    flags = set(fields.get("Flags", "").split())
    speed = " ".join(flag for flag in SPEED_FLAGS if flag in flags) or "none of " + ", ".join(SPEED_FLAGS)
    return (
        f"machine: {model}, {os.cpu_count()} cores, flags: {speed}; "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="200,100000", help="photo counts, comma-separated (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per command (default %(default)s)")
    parser.add_argument(
        "--real-build-max",
        type=int,
        default=1000,
        help="the most photos indexed by a real first build; above, the index is written directly (%(default)s)",
    )
    parser.add_argument("--workdir", type=Path, help="keep photos and indexes here (reused); default: a temp folder")
    parser.add_argument("--rclip", type=Path, metavar="PATH", help="the rclip executable, to time it side by side")
    parser.add_argument(
        "--rclip-data",
        type=Path,
        default=rclip_default_data(),
        help="the rclip data folder that holds its downloaded model (default %(default)s)",
    )
    args = parser.parse_args()
    counts = [int(value) for value in args.counts.split(",") if value.strip()]

    with tempfile.TemporaryDirectory(prefix="startup-") as scratch:
        work = (args.workdir or Path(scratch)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        env = run_env(work)
        load_before = os.getloadavg()
        subprocess.run([sys.executable, "-c", "pass"], env=env)  # the interpreter's own .pyc files
        results = [
            Timing(
                "python -c pass (interpreter start-up)",
                None,
                *timed([sys.executable, "-c", "pass"], REPO_ROOT, args.repeat, env),
            )
        ]
        notes, import_notes = [], []
        for count in counts:
            photos, index = work / f"photos-{count}", work / f"index-{count}"
            print(f"{count} photos: writing JPEGs …", file=sys.stderr)
            make_photos(photos, count)
            notes.append(f"{count} photos: {prepare_ours(photos, index, count, args.real_build_max, env)}")
            command = [sys.executable, "-m", "indexer", "build", str(photos), "--index", str(index), "--quiet"]
            modules = imports_of(command, REPO_ROOT, env)
            label = "python -m indexer build PHOTOS --quiet (unchanged)"
            wall, cpu = timed(command, REPO_ROOT, args.repeat, env)
            results.append(Timing(label, count, wall, cpu, imported(modules, "torch"), imported(modules, "faiss")))
            import_notes.append(f"ours, {count} photos: {costliest(modules)}")
            if args.rclip is None:
                continue
            data = work / f"rclip-data-{count}"
            renv = rclip_env(work, data)
            prepare_rclip(args.rclip, args.rclip_data, data, photos, count, args.real_build_max, renv)
            modules = imports_of(rclip_command(args.rclip), photos, renv)
            label = f'rclip -f -t 1 "{RCLIP_QUERY}" (re-index check + one query)'
            wall, cpu = timed(rclip_command(args.rclip), photos, args.repeat, renv)
            results.append(Timing(label, count, wall, cpu, imported(modules, "torch"), imported(modules, "faiss")))
            import_notes.append(f"rclip, {count} photos: {costliest(modules)}")
        load_after = os.getloadavg()

    print(f"\n{machine_line()}")
    print(f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after; warm page cache")
    print(f"photos: {PHOTO_SIZE[0]}×{PHOTO_SIZE[1]} JPEGs, ≤ {FILES_PER_FOLDER} per folder")
    for note in notes:
        print(f"  {note}")
    header = ["command", "photos", "wall median s", "wall min s", "CPU median s", "runs", "torch", "faiss", "target"]
    print("\n| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for result in results:
        print(result.row())
    if args.rclip is None:
        print(f"| rclip 3.3.0 | – | – | – | – | – | – | – | {RCLIP_OFFLINE_NOTE} |")
    print("\nimports (PYTHONPROFILEIMPORTTIME, self time; the profiler itself adds time):")
    for note in import_notes:
        print(f"  {note}")


if __name__ == "__main__":
    main()
