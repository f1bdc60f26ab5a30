"""Text in photos inside a collection: what `--ocr auto` selects, what the OCR stage adds to a
build, and how well a search finds a photo by a word on it in another inflected form.

    python benchmarks/ocr_search.py --count 120

The demo collection (data/demo/photos: 64 camera photos of shapes, no text) with `--count` photos
of Russian text from training/text_photos.py mixed in (screenshots, receipts, signs on photo
backgrounds, rotated, low-contrast), built by the real build with the demo model, three times:
`--ocr off`, `--ocr auto`, then `--ocr all` over the auto index. Prints tables: the share of each
kind that auto sends to the reader; the build's seconds per mode; recall@5 per kind of a search by
each photo's query word (another form than written: «чеки» for «ЧЕК») with the words and the meaning
fused (the default), with the words alone, and with the meaning alone; and query latency.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from training.text_photos import TextPhoto, make_text_photos  # noqa: E402


def _machine() -> str:
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    flags = sorted({flag for flag in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16") if flag in cpu.split()})
    model = next((line.split(":", 1)[1].strip() for line in cpu.splitlines() if line.startswith("Model name")), "?")
    return f"Python {platform.python_version()}, {model}, flags {' '.join(flags)}"


def _build(collection: Path, index: Path, mode: str, workers: int) -> tuple[float, object]:
    from indexer.build import BuildOptions, build_index

    options = BuildOptions(index_dir=index, model="demo", device="cpu", workers=workers, progress=False, ocr=mode)
    started = time.perf_counter()
    summary = build_index(collection, options)
    return time.perf_counter() - started, summary


def _selected_by_kind(index: Path, photos: Sequence[TextPhoto], demo: Path) -> dict[str, tuple[int, int]]:
    """kind -> (photos sent to the reader, photos of that kind); "no text" is the demo's photos."""
    from search.ocr.engine import engine_key
    from search.store import IndexStore

    store = IndexStore(index)
    try:  # what a later --ocr all would read: the photos auto skipped
        skipped = {candidate.path for candidate in store.texts.candidates(0, engine_key(), with_skipped=True)}
    finally:
        store.close()
    counts: dict[str, list[bool]] = {}
    for photo in photos:
        counts.setdefault(photo.kind, []).append(str(photo.path) not in skipped)
    counts["no text (demo photos)"] = [str(path.resolve()) not in skipped for path in demo.rglob("*.jpg")]
    return {kind: (sum(sent), len(sent)) for kind, sent in counts.items()}


def _recall(index_dir: Path, photos: Sequence[TextPhoto], ocr: str) -> tuple[dict[str, float], list[float]]:
    """kind -> recall@5 of a search by each photo's query word, and the queries' seconds."""
    import search

    index = search.open_index(index_dir, device="cpu")
    index.search("красный", k=5)  # the first query's one-off costs (the model's first run) left out
    found: dict[str, list[bool]] = {}
    seconds = []
    for photo in photos:
        started = time.perf_counter()
        hits = index.search(photo.query, k=5, ocr=ocr)
        seconds.append(time.perf_counter() - started)
        found.setdefault(photo.kind, []).append(any(Path(hit.path) == photo.path.resolve() for hit in hits))
    return {kind: statistics.fmean(hit) for kind, hit in found.items()}, seconds


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=120, help="text photos mixed in (the kinds in turn)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="decoding and reading processes")
    args = parser.parse_args(argv)
    print(f"# {_machine()}; {args.count} text photos + the 64 demo photos; workers {args.workers}\n")
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        collection = folder / "collection"
        shutil.copytree(REPO_ROOT / "data" / "demo" / "photos", collection / "demo")
        photos = make_text_photos(collection / "text", args.count, seed=args.seed)
        photos = [replace(photo, path=photo.path.resolve()) for photo in photos]

        off_s, _ = _build(collection, folder / "index-off", "off", args.workers)
        auto_s, auto = _build(collection, folder / "index", "auto", args.workers)
        selected = _selected_by_kind(folder / "index", photos, collection / "demo")
        recall_auto_index, _ = _recall(folder / "index", photos, "auto")
        shutil.copytree(folder / "index", folder / "index-all")
        all_s, everything = _build(collection, folder / "index-all", "all", args.workers)

        print("| kind | sent to the reader by --ocr auto |\n| --- | ---: |")
        for kind, (sent, total) in selected.items():
            print(f"| {kind} | {sent}/{total} ({sent / total:.2f}) |")
        print("\n| build | seconds | photos read |\n| --- | ---: | ---: |")
        print(f"| --ocr off | {off_s:.1f} | 0 |")
        print(f"| --ocr auto (from nothing) | {auto_s:.1f} | {auto.texts.read} |")
        print(f"| then --ocr all (reads what auto skipped) | {all_s:.1f} | {everything.texts.read} |")

        kinds = list(dict.fromkeys(photo.kind for photo in photos))
        rows = {"words + meaning (auto), auto index": recall_auto_index}
        latencies = {}
        for ocr, name in (("auto", "words + meaning (auto)"), ("only", "words alone"), ("off", "meaning alone")):
            rows[f"{name}, all index"], latencies[name] = _recall(folder / "index-all", photos, ocr)
        print("\nrecall@5 of a search by a word of the photo in another form")
        print("| search | " + " | ".join(kinds) + " |\n| --- |" + " ---: |" * len(kinds))
        for name, recall in rows.items():
            print(f"| {name} | " + " | ".join(f"{recall.get(kind, 0):.2f}" for kind in kinds) + " |")
        print("\n| query | p50 ms | p90 ms |\n| --- | ---: | ---: |")
        for name, seconds in latencies.items():
            cuts = statistics.quantiles(seconds, n=10)
            print(f"| {name} | {statistics.median(seconds) * 1000:.1f} | {cuts[8] * 1000:.1f} |")


if __name__ == "__main__":
    main()
