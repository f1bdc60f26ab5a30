"""Tags and categories (issue 23): how long the label stage and a category take at scale, and how
well a category taught from a few photos finds what the model's words cannot say.

    python benchmarks/labels.py                       # speed at 100 k, quality on 256 drawn photos
    python benchmarks/labels.py --sizes 10000,100000 --seeds 5 --photos 256

Speed: an index folder written with one row per synthetic unit vector (search/testing.py, 512
dimensions as ruCLIP's), the packaged Russian vocabulary (search/classify/tags/ru.txt) embedded by
a stand-in text tower (a fixed random unit vector per prompt: the shape of the real one, and the
speed of assigning tags does not depend on what the vectors mean). The photos' vectors are drawn
near one to three tags each, so that the stage writes about as many (photo, tag) pairs as a real
collection's. Timed: the build's label stage itself (indexer/label.py: every photo's tags from its
stored vector, written to SQLite), a category trained from 16 examples and applied to every photo
(CollectionLabels.add_category), the tags' counts (tags()) and a photo filter by a tag
(tag_scores, what search(tags=...) reads).

Quality: photos drawn by the demo world (training/world.py), a quarter on each background kind of
training/shapes.py (a real photo, plain, gradient, noise), every colour and shape on each. The
categories (CATEGORIES, from how each photo was drawn): "on a photo background" and "on a plain
background" (the demo model's words are only its colours and shapes, so no query can say them and
they cut across every tag it has), "a close-up" (the shape's drawn extent, training/world.py's
drawn_extent, 65 % of the frame or more: it has no word for size), "warm colours" (a union its
words name only part by part) and "four looks" (a hand-picked set of four colour-shape pairs).
Built with the real build and the demo model; each is taught from 1, 2, 4, 8 and 16 random examples
(several seeds), with and without three «не то» (the three best-scoring wrong photos of the first
fit, as a user would mark them); precision@10 of all photos ranked by the category's probability,
the examples and «не то» left out. Against the best text query (every word and colour-shape pair of
the model's, and a few phrasings of the category; the best kept). `--quick-path N`: the CLI's
unchanged re-run after a label stage at N files.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

DIM = 512  # ruCLIP's embedding


class StandInTextTower:
    """A text tower of ruCLIP's shape: each prompt a fixed random unit vector (seeded by its text)."""

    logit_scale = 100.0

    def encode_texts(self, texts):
        out = np.empty((len(texts), DIM), np.float32)
        for row, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
            out[row] = vector / np.linalg.norm(vector)
        return out


def photo_vectors(count: int, tag_vectors: np.ndarray, neutral: np.ndarray, seed: int = 0) -> np.ndarray:
    """Unit vectors each near one to three of the tags, near the neutral rival (what any photo is
    like: «фото») and some noise, so that a group without its tag in the photo gives none."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, DIM)).astype(np.float32) * (0.7 / DIM**0.5) + neutral[None, :]
    for extra in range(3):
        chosen = rng.integers(0, len(tag_vectors), count)
        weight = np.where(rng.random(count) < (1.0 if extra == 0 else 0.4), 1.3, 0.0).astype(np.float32)
        vectors += weight[:, None] * tag_vectors[chosen]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def speed(size: int, work: Path) -> dict[str, float]:
    from indexer.label import label_photos
    from indexer.model_choice import ModelChoice
    from indexer.stages import LABEL, StageTimes
    from search.classify.tag_vocabulary import NEUTRAL_PHRASINGS, read_templates, vocabulary_of
    from search.classify.tagging import embed_phrasings
    from search.labels.collection import CollectionLabels
    from search.store import IndexStore
    from search.testing import write_synthetic_index

    tower = StandInTextTower()
    specs = vocabulary_of(None)
    tag_vectors = embed_phrasings(tower, [spec.phrasings for spec in specs], read_templates())
    neutral = embed_phrasings(tower, [NEUTRAL_PHRASINGS], read_templates())[0]
    folder = work / f"index-{size}"
    shutil.rmtree(folder, ignore_errors=True)
    write_synthetic_index(
        folder, photo_vectors(size, tag_vectors, neutral), model_name="stand-in", fingerprint="stand-in"
    )
    model_folder = work / "model"  # no tags.txt: the packaged vocabulary
    model_folder.mkdir(exist_ok=True)
    choice = ModelChoice("stand-in", model_folder, "stand-in", "", None)
    store = IndexStore(folder)
    try:
        stages = StageTimes()
        started = time.perf_counter()
        labelled, renewed = label_photos(store, choice, lambda: tower, stages)
        whole = time.perf_counter() - started
        assert labelled == size and renewed
        label_s = stages[LABEL].busy_s if hasattr(stages[LABEL], "busy_s") else whole
        pairs = sum(tag.count for tag in store.labels.tag_counts())

        started = time.perf_counter()
        again, _ = label_photos(store, choice, lambda: tower, StageTimes())
        unchanged_s = time.perf_counter() - started
        assert again == 0

        labels = CollectionLabels(store, lambda: tower, "stand-in")
        ids = store.indexed_vectors()[1]
        first_tag = store.labels.tags()[0]
        carriers = sorted(store.labels.tag_scores([first_tag.id]))
        examples = random.Random(0).sample(carriers, 16)
        started = time.perf_counter()
        summary = labels.add_category("пример", examples=examples)
        category_s = time.perf_counter() - started  # the process's first: scikit-learn is imported in it
        started = time.perf_counter()
        labels.add_category("ещё пример", examples=random.Random(1).sample(carriers, 16))
        warm_category_s = time.perf_counter() - started  # the page's case: scikit-learn already imported

        started = time.perf_counter()
        listed = labels.tags()
        tags_s = time.perf_counter() - started
        busiest = max(listed, key=lambda tag: tag.count)
        started = time.perf_counter()
        filtered = labels.tag_scores([busiest.name])
        filter_s = time.perf_counter() - started
    finally:
        store.close()
    return {
        "photos": size,
        "label_s": label_s,
        "whole_s": whole,
        "pairs_per_photo": pairs / size,
        "unchanged_s": unchanged_s,
        "category_s": category_s,
        "warm_category_s": warm_category_s,
        "members": summary.members,
        "tags_s": tags_s,
        "filter_s": filter_s,
        "filtered": len(filtered),
        "ids": len(ids),
    }


WARM = ("красный", "оранжевый", "жёлтый")
FOUR_LOOKS = {("красный", "звезда"), ("синий", "круг"), ("зелёный", "квадрат"), ("жёлтый", "треугольник")}
LARGE = 0.65  # «крупным планом»: the shape's bounding box spans this share of the frame's side or more
# The categories taught: what is true of a drawn photo, from how it was drawn (colour, shape,
# background kind, the shape's extent: its bounding box over the side of the square the model sees).
CATEGORIES = {
    "on a photo background": lambda colour, shape, kind, extent: kind == "photo",
    "on a plain background (one flat colour)": lambda colour, shape, kind, extent: kind == "plain",
    "a close-up (the shape spans 65 % of the frame or more)": lambda colour, shape, kind, extent: extent >= LARGE,
    "warm colours (red, orange, yellow), any shape": lambda colour, shape, kind, extent: colour in WARM,
    "a collection of four looks (red star, blue circle, green square, yellow triangle)": (
        lambda colour, shape, kind, extent: (colour, shape) in FOUR_LOOKS
    ),
}
# The text queries tried for each (the best one counts): every word and pair of the demo model's, and these.
EXTRA_QUERIES = {
    "on a photo background": ["фото", "фотография", "на фоне фотографии"],
    "on a plain background (one flat colour)": ["однотонный фон", "белый", "чёрный"],
    "a close-up (the shape spans 65 % of the frame or more)": [
        "крупным планом",
        "большой",
        "крупный",
        "большой круг",
        "большая звезда",
    ],
    "warm colours (red, orange, yellow), any shape": ["красный + оранжевый + жёлтый", "красный + оранжевый"],
    "a collection of four looks (red star, blue circle, green square, yellow triangle)": [
        "красная звезда + синий круг + зелёный квадрат + жёлтый треугольник",
        "красная звезда + синий круг",
    ],
}


def quality(count: int, seeds: int, work: Path) -> dict[str, tuple[dict, dict]]:
    import search
    from indexer.build import BuildOptions, build_index
    from search.store import IndexStore
    from training.captions import COLOURS, SHAPES
    from training.shapes import load_backgrounds
    from training.world import DEFAULT_BACKGROUNDS, drawn_extent, labelled_picture

    photos, index = work / "quality-photos", work / "quality-index"
    shutil.rmtree(photos, ignore_errors=True)
    shutil.rmtree(index, ignore_errors=True)
    photos.mkdir(parents=True)
    backgrounds = load_backgrounds(DEFAULT_BACKGROUNDS)
    drawn: dict[str, tuple[str, str, str, float]] = {}
    for i in range(count):
        kind = ("photo", "plain", "gradient", "noise")[i % 4]
        kinds = (kind,)
        # Every colour-shape pair on each kind of background: index i // 4 cycles the pairs.
        picture = labelled_picture("labels-bench", i % 4, i // 4, (160, 120), backgrounds, kinds)
        name = f"p{i:04d}.jpg"
        picture.image.save(photos / name, quality=92)
        drawn[name] = (picture.colour.name, picture.shape.name, kind, drawn_extent("labels-bench", i % 4, i // 4))
    build_index(photos, BuildOptions(index_dir=index, model="demo", device="cpu", workers=1, progress=False))
    store = IndexStore(index)
    id_drawn = {store.id_of(str(photos / name)): how for name, how in drawn.items()}
    store.close()
    ix = search.open_index(index, device="cpu")
    labels = ix.labels
    words = [c.name for c in COLOURS] + [s.name for s in SHAPES]
    words += [f"{c.feminine} {s.name}" if s.name == "звезда" else f"{c.name} {s.name}" for c in COLOURS for s in SHAPES]
    results = {}
    for title, rule in CATEGORIES.items():
        truth = {i: bool(rule(*how)) for i, how in id_drawn.items()}
        positives = sorted(i for i, on in truth.items() if on)

        def precision_at_10(ranked: list[int], left_out: set[int], truth: dict[int, bool] = truth) -> float:
            top = [i for i in ranked if i not in left_out][:10]
            return sum(truth[i] for i in top) / 10

        curves: dict[tuple[int, bool], list[float]] = {}
        for shots in (1, 2, 4, 8, 16):
            for seed in range(seeds):
                examples = random.Random(seed * 100 + shots).sample(positives, shots)
                name = f"c-{shots}-{seed}"
                labels.add_category(name, examples=examples)
                scores = _all_scores(store_of(index), name, list(truth))
                ranked = sorted(scores, key=lambda i: -scores[i])
                curves.setdefault((shots, False), []).append(precision_at_10(ranked, set(examples)))
                wrong = [i for i in ranked if not truth[i] and i not in examples][:3]
                labels.correct_category(name, not_examples=wrong)
                scores = _all_scores(store_of(index), name, list(truth))
                ranked = sorted(scores, key=lambda i: -scores[i])
                curves.setdefault((shots, True), []).append(precision_at_10(ranked, set(examples) | set(wrong)))
                labels.remove_category(name)
        text: dict[str, float] = {}
        for query in [*words, *EXTRA_QUERIES[title]]:
            hits = ix.search(query, k=10)
            text[query] = sum(truth[h.id] for h in hits) / 10 if hits else 0.0
        results[title] = (curves, text, len(positives) / len(truth))
    return results


def store_of(index: Path):
    from search.store import IndexStore

    return IndexStore(index)


def _all_scores(store, name: str, ids: list[int]) -> dict[int, float]:
    """Every photo's probability of the category (members and not), read from its stored weights."""
    from search.labels.apply import category_model

    try:
        record = store.labels.category(name)
        found = store.labels.indexed_vectors_of(ids)
    finally:
        store.close()
    model = category_model(record)
    order = list(found)
    scores = model.scores(np.vstack([found[i] for i in order]))
    return {i: float(s) for i, s in zip(order, scores, strict=True)}


def quick_path(count: int, work: Path) -> dict[str, object]:
    """`count` files on disk with the index a first build would leave (benchmarks/startup.py's), one
    real build that runs the label stage with the demo model, then the unchanged re-run timed and
    its imports listed."""
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    from startup import imported, imports_of, make_photos, run_env, run_ours, write_matching_index

    photos, index = work / "quick-photos", work / "quick-index"
    make_photos(photos, count)
    write_matching_index(index, photos)
    env = run_env(work)
    started = time.perf_counter()
    first = run_ours(photos, index, env)  # the label stage: the vocabulary embedded, every photo tagged
    label_run_s = time.perf_counter() - started
    command = [sys.executable, "-m", "indexer", "build", str(photos), "--index", str(index), "--quiet"]
    walls = []
    for _ in range(5):
        started = time.perf_counter()
        run_ours(photos, index, env)
        walls.append(time.perf_counter() - started)
    modules = imports_of(command, REPO_ROOT, env)
    return {
        "label_run_s": label_run_s,
        "first": first.stdout.strip().splitlines()[-1] if first.stdout.strip() else "",
        "unchanged_s": statistics.median(walls),
        "torch": imported(modules, "torch"),
        "faiss": imported(modules, "faiss"),
    }


def machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.processor() or platform.machine()}, {cpus} cores, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000", help="photo counts for the speed table, comma-separated")
    parser.add_argument("--photos", type=int, default=256, help="drawn photos for the quality table (>= 200)")
    parser.add_argument("--seeds", type=int, default=5, help="random choices of examples per count")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument(
        "--quick-path", type=int, default=0, metavar="N", help="also time the CLI's unchanged re-run at N files"
    )
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="labels-bench-") as tmp:
        work = Path(tmp)
        if not args.skip_speed:
            print(
                "\n| photos | label stage, s | tags per photo | unchanged label stage, s | category (16 examples) "
                "trained + applied, first / again, s | members | tags(), s | filter by a tag, s |"
            )
            print("|---:|---:|---:|---:|---:|---:|---:|---:|")
            for size in (int(s) for s in args.sizes.split(",")):
                r = speed(size, work)
                print(
                    f"| {r['photos']:,} | {r['label_s']:.2f} | {r['pairs_per_photo']:.2f} | {r['unchanged_s']:.3f} | "
                    f"{r['category_s']:.2f} / {r['warm_category_s']:.2f} | {r['members']:,} | "
                    f"{r['tags_s']:.3f} | {r['filter_s']:.3f} |",
                    flush=True,
                )
        if args.quick_path:
            r = quick_path(args.quick_path, work)
            print(
                f"\n{args.quick_path:,} files: the build with the label stage {r['label_run_s']:.1f} s ({r['first']})"
            )
            print(
                f"unchanged re-run after it: median {r['unchanged_s']:.2f} s of 5; "
                f"torch imported: {r['torch']}, faiss imported: {r['faiss']}"
            )
        if not args.skip_quality:
            for title, (curves, text, chance) in quality(args.photos, args.seeds, work).items():
                print(f"\nprecision@10, category «{title}», {args.photos} photos, {args.seeds} seeds (mean ± sd)")
                print("| examples | alone | with 3 «не то» |")
                print("|---:|---:|---:|")
                for shots in (1, 2, 4, 8, 16):
                    cells = []
                    for corrected in (False, True):
                        values = curves[(shots, corrected)]
                        cells.append(f"{statistics.mean(values):.2f} ± {statistics.pstdev(values):.2f}")
                    print(f"| {shots} | {cells[0]} | {cells[1]} |")
                best = sorted(text.items(), key=lambda item: -item[1])[:4]
                print("best text queries (precision@10): " + "; ".join(f"«{q}» {p:.1f}" for q, p in best))
                print(f"(share of the photos in it: {chance:.2f}; queries tried: {len(text)})")


if __name__ == "__main__":
    main()
