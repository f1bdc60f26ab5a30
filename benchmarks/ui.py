"""What a user of the search page waits for: the page's server-side time per interaction.

    python benchmarks/ui.py                     # 32 JPEGs of 4000×3000, ViT-B/32-384 (random weights), CPU
    python benchmarks/ui.py --count 96 --rows 100000

Times one run of ui/app.py under streamlit.testing.v1.AppTest (the whole script: index stats,
filters, text encoding, search, thumbnails, layout; not the browser's drawing or the transfer of
the thumbnails over localhost) for: the first query (thumbnails made from the 12-MP originals), the
same page again (from the disk cache), another query, the first again, and «Похожие»; each row says
how many results it showed and how many thumbnails it had to make. Then the
sidebar's cost on a large index (stats and failures on --rows synthetic rows), paid on every
interaction.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.index import BPE, make_photos  # noqa: E402
from indexer.build import BuildOptions, build_index  # noqa: E402
from search import PhotoIndex  # noqa: E402
from search.clip.config import PUBLISHED_CONFIGS  # noqa: E402
from search.clip.encoder import load_model  # noqa: E402
from search.testing import clustered_unit_vectors, make_random_checkpoint, write_synthetic_index  # noqa: E402

APP = REPO_ROOT / "ui" / "app.py"
LOADING_NOTES = ("Открываю поиск", "Загружаю модель", "Скачиваю модель")  # as tests/helpers.py
TINY_MODEL = REPO_ROOT / "tests" / "data" / "golden" / "tiny" / "model"


def page_timings(index: Path, queries: list[str]) -> list[tuple[str, float, int, int]]:
    """(interaction, seconds, results shown, thumbnails made from the originals) per step."""
    from streamlit.testing.v1 import AppTest

    sys.argv = [str(APP), "--index", str(index), "--device", "cpu"]
    at = AppTest.from_file(str(APP), default_timeout=600)
    cache = index / "thumbnails"
    rows = []

    def step(label: str, action=None) -> None:
        before = len(list(cache.rglob("*.jpg")))
        started = time.perf_counter()
        (action(at) if action else at).run()
        # The page draws a note while the model loads in the background, and reruns itself once it
        # is ready (a fragment AppTest does not run): the step ends when the page is there.
        while any(note in info.value for info in at.info for note in LOADING_NOTES):
            time.sleep(0.02)
            at.run()
        elapsed = time.perf_counter() - started
        if at.exception:
            raise SystemExit(f"the page failed: {[e.value for e in at.exception]}")
        made = len(list(cache.rglob("*.jpg"))) - before
        shown = sum(1 for b in at.button if b.key and b.key.startswith("open-"))
        rows.append((label, elapsed, shown, made))

    step("open the page (model and index load once per process)")
    at.slider(key="min_score").set_value(0.0)  # random weights score low: show what scores above 0
    step("first query", lambda a: a.text_input(key="query").input(queries[0]))
    step("the same page again", None)
    step("another query", lambda a: a.text_input(key="query").input(queries[1]))
    step("the first query again", lambda a: a.text_input(key="query").input(queries[0]))
    similar = next(b.key for b in at.button if b.key and b.key.startswith("similar-"))
    step("«Похожие» on a result (stored vector, no encoding)", lambda a: a.button(key=similar).click())
    return rows


def sidebar_timings(folder: Path, rows: int) -> tuple[float, float, float]:
    """Milliseconds of the sidebar's queries: stats counted, stats unchanged since, the failures list."""
    model = load_model(TINY_MODEL, device="cpu")  # the sidebar's queries do not use the model
    vectors = clustered_unit_vectors(rows, model.embed_dim, seed=0)
    write_synthetic_index(folder, vectors, model_name=str(TINY_MODEL), fingerprint=model.fingerprint)
    counted, unchanged, failures = [], [], []
    for _ in range(5):
        index = PhotoIndex(folder, model=model)
        for times in (counted, unchanged):
            started = time.perf_counter()
            index.stats()
            times.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        index.failures(limit=50)
        failures.append((time.perf_counter() - started) * 1000)
    return statistics.median(counted), statistics.median(unchanged), statistics.median(failures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=32, help="12-MP photos in the test collection")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the synthetic index for the sidebar")
    parser.add_argument("--config", default="ruclip-vit-base-patch32-384", choices=list(PUBLISHED_CONFIGS))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        model = make_random_checkpoint(work / "model", PUBLISHED_CONFIGS[args.config], BPE)
        print(f"writing {args.count} JPEGs of 4000×3000 and indexing them …", file=sys.stderr)
        make_photos(work / "photos", args.count, (4000, 3000))
        options = BuildOptions(index_dir=work / "index", model=str(model), device="cpu", progress=False)
        build_index(work / "photos", options)
        page = page_timings(work / "index", ["рыжий кот на подоконнике", "дети на пляже"])
        counted_ms, unchanged_ms, failures_ms = sidebar_timings(work / "synthetic", args.rows)

    machine = platform.processor() or platform.machine()
    print(f"\nmachine: {machine}, {os.cpu_count()} cores, torch {torch.__version__}, CPU")
    print(f"{args.count} JPEGs 4000×3000, {args.config} (random weights), 24 results per page\n")
    print("| interaction | server time, ms | results shown | thumbnails made from 12-MP JPEGs |")
    print("| --- | --- | --- | --- |")
    for label, seconds, shown, made in page:
        print(f"| {label} | {seconds * 1000:.0f} | {shown} | {made} |")
    print(
        f"\nsidebar on {args.rows:,} rows (median of 5): stats counted {counted_ms:.1f} ms, "
        f"unchanged since the last call {unchanged_ms:.1f} ms; failures list {failures_ms:.1f} ms"
    )


if __name__ == "__main__":
    main()
