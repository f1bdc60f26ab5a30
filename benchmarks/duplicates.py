"""Near-duplicate groups: how well they match the truth per threshold, and how long grouping takes.

    python benchmarks/duplicates.py                    # the demo model: sweep, pick, timing
    python benchmarks/duplicates.py --scenes 40 --sizes 10000,100000

A generated set (the demo world: one coloured shape on a background, training/world.py):
`--scenes` photos each with near-duplicates (two burst frames: the view shifted by up to 2 px of
640 and new sensor noise; the photo resized to 50 %; re-encoded at JPEG quality 60; brightness
±10 %; cropped by 5 % of its area), `--scenes` hard negatives (the same colour and shape as a
scene, on another background, at another place and size) and `--distinct` other photos. Every
picture goes through a JPEG file as a camera's would, and is encoded with the demo model.

The score is pairwise: precision = of the pairs of photos the grouping puts together, the share
that truly belong together; recall = of the pairs that belong together, the share put together.
The threshold picked is the middle of the longest run of thresholds whose precision and recall
are both ≥ 0.95: the choice is not balanced on a knife edge either way. Timing: grouping of random clustered
unit vectors, 10 k and 100 k, the dimension of ruCLIP (512) and of the demo (128).
"""

from __future__ import annotations

import argparse
import io
import platform
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from search.duplicates import DEMO_THRESHOLD, group_vectors  # noqa: E402

SIZE = (640, 480)
EDITS = ("burst", "burst", "resized 50 %", "JPEG q60", "brightness ±10 %", "crop 5 %")
THRESHOLDS = tuple(round(0.90 + 0.005 * step, 3) for step in range(20))  # 0.900 ... 0.995


@dataclass(frozen=True)
class Generated:
    images: list[Image.Image]
    scene: np.ndarray  # (N,) which scene a picture shows; a distinct photo is a scene of its own
    edit: list[str]  # "original", one of EDITS, "hard negative" or "distinct"


def _through_jpeg(image: Image.Image, quality: int = 90) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _burst_frame(image: Image.Image, rng: random.Random) -> Image.Image:
    """The next frame of a burst: the view shifted by up to 2 px (sub-pixel, any direction) and
    fresh sensor noise."""
    dx, dy = rng.uniform(-2, 2), rng.uniform(-2, 2)
    moved = image.transform(image.size, Image.Transform.AFFINE, (1, 0, dx, 0, 1, dy), Image.Resampling.BILINEAR)
    # Edges the shift uncovered repeat the picture's own border, as a slightly wider view would show.
    pixels = np.asarray(moved, np.float32)
    original = np.asarray(image, np.float32)
    pixels[pixels.sum(axis=2) == 0] = original[pixels.sum(axis=2) == 0]
    noise = np.random.default_rng(rng.getrandbits(32)).normal(0, 3, pixels.shape)
    return Image.fromarray((pixels + noise).clip(0, 255).astype(np.uint8))


def _edited(image: Image.Image, edit: str, rng: random.Random) -> Image.Image:
    width, height = image.size
    if edit == "burst":
        return _through_jpeg(_burst_frame(image, rng))
    if edit == "resized 50 %":
        return _through_jpeg(image.resize((width // 2, height // 2), Image.Resampling.LANCZOS))
    if edit == "JPEG q60":
        return _through_jpeg(image, quality=60)
    if edit == "brightness ±10 %":
        return _through_jpeg(ImageEnhance.Brightness(image).enhance(rng.choice((0.9, 1.1))))
    if edit == "crop 5 %":  # 5 % of the area, centred: 1.27 % off each edge
        cut_w, cut_h = width * 0.025 / 2, height * 0.025 / 2
        return _through_jpeg(image.crop((round(cut_w), round(cut_h), round(width - cut_w), round(height - cut_h))))
    if edit == "crop 5 % off-centre":  # the same area, cut from two adjacent edges at random proportions
        cut_w, cut_h = width * 0.025, height * 0.025
        left, top = rng.uniform(0, cut_w), rng.uniform(0, cut_h)
        box = (round(left), round(top), round(left + width - cut_w), round(top + height - cut_h))
        return _through_jpeg(image.crop(box))
    raise ValueError(edit)


def generate(scenes: int, distinct: int, seed: int = 0, edits: tuple[str, ...] = EDITS) -> Generated:
    """`scenes` photos with their near-duplicates (EDITS), a hard negative per scene, `distinct`
    more photos."""
    from training.world import DEFAULT_BACKGROUNDS, labelled_picture, load_backgrounds

    backgrounds = load_backgrounds(DEFAULT_BACKGROUNDS)
    images: list[Image.Image] = []
    scene: list[int] = []
    kinds: list[str] = []
    for number in range(scenes):
        # labelled_picture's colour and shape follow the index: the same index under another purpose
        # is the same colour and shape, drawn anew (background, place, size, tilt): a hard negative.
        original = labelled_picture("duplicates", seed, number, SIZE, backgrounds).image
        rng = random.Random(f"duplicates-edits:{seed}:{number}")
        for edit in ("original", *edits):
            images.append(_through_jpeg(original) if edit == "original" else _edited(original, edit, rng))
            scene.append(number)
            kinds.append(edit)
        images.append(_through_jpeg(labelled_picture("duplicates-hard", seed, number, SIZE, backgrounds).image))
        scene.append(scenes + number)
        kinds.append("hard negative")
    for number in range(distinct):
        images.append(_through_jpeg(labelled_picture("duplicates-distinct", seed, number, SIZE, backgrounds).image))
        scene.append(2 * scenes + number)
        kinds.append("distinct")
    return Generated(images, np.array(scene), kinds)


def pairwise_scores(groups: list[np.ndarray], truth: np.ndarray) -> tuple[float, float]:
    """(precision, recall) of the pairs the groups put together against the pairs of one scene."""
    predicted = np.arange(len(truth))  # a photo in no group is alone
    for label, members in enumerate(groups):
        predicted[members] = len(truth) + label
    upper = np.triu_indices(len(truth), k=1)
    together = (predicted[:, None] == predicted[None, :])[upper]
    same = (truth[:, None] == truth[None, :])[upper]
    hits = int((together & same).sum())
    precision = hits / int(together.sum()) if together.any() else 1.0
    recall = hits / int(same.sum()) if same.any() else 1.0
    return precision, recall


def sweep(vectors: np.ndarray, truth: np.ndarray, thresholds=THRESHOLDS) -> list[tuple[float, float, float]]:
    """(threshold, precision, recall) for each threshold."""
    ids = np.arange(len(truth), dtype=np.int64)
    return [(t, *pairwise_scores(group_vectors(ids, vectors, t), truth)) for t in thresholds]


def pick(results: list[tuple[float, float, float]], floor: float = 0.95) -> float | None:
    """The middle of the longest run of consecutive thresholds whose precision and recall are both
    ≥ floor (the upper middle for an even run): the choice keeps a margin on both sides."""
    best: list[float] = []
    run: list[float] = []
    for threshold, precision, recall in results:
        run = [*run, threshold] if precision >= floor and recall >= floor else []
        if len(run) > len(best):
            best = run
    return best[len(best) // 2] if best else None


def encode_demo(generated: Generated) -> np.ndarray:
    import search

    model = search.load_model("demo", device="cpu")
    return model.encode_images(generated.images)


def per_edit_recall(vectors: np.ndarray, generated: Generated, threshold: float) -> dict[str, float]:
    """The share of each kind of copy that ends in its original's group."""
    ids = np.arange(len(vectors), dtype=np.int64)
    group_of = np.arange(len(vectors))
    for label, members in enumerate(group_vectors(ids, vectors, threshold)):
        group_of[members] = len(vectors) + label
    originals = {
        int(s): i for i, (s, e) in enumerate(zip(generated.scene, generated.edit, strict=True)) if e == "original"
    }
    shares = {}
    for edit in sorted(set(EDITS)):
        copies = [i for i, e in enumerate(generated.edit) if e == edit]
        shares[edit] = float(np.mean([group_of[i] == group_of[originals[int(generated.scene[i])]] for i in copies]))
    return shares


def timing(count: int, dim: int, threshold: float, seed: int = 0) -> tuple[float, int]:
    """Seconds to group `count` random unit vectors (clusters of near-copies among them), groups found."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, dim)).astype(np.float32)
    copies = rng.choice(count, size=count // 10, replace=False)  # a tenth are near-copies of another
    vectors[copies] = vectors[rng.choice(count, size=len(copies))] + 0.05 * rng.standard_normal((len(copies), dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    start = time.perf_counter()
    groups = group_vectors(np.arange(count, dtype=np.int64), vectors, threshold)
    return time.perf_counter() - start, len(groups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=60)
    parser.add_argument("--distinct", type=int, default=60)
    parser.add_argument("--sizes", default="10000,100000", help="vector counts to time grouping at ('' for none)")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, python {platform.python_version()}")
    started = time.perf_counter()
    generated = generate(args.scenes, args.distinct)
    vectors = encode_demo(generated)
    seconds = time.perf_counter() - started
    print(
        f"{len(generated.images)} photos: {args.scenes} scenes × (original + {len(EDITS)} near-duplicates), "
        f"{args.scenes} hard negatives, {args.distinct} distinct; made and encoded in {seconds:.1f} s"
    )
    results = sweep(vectors, generated.scene)
    print("threshold  precision  recall")
    for threshold, precision, recall in results:
        print(f"  {threshold:.3f}    {precision:.3f}    {recall:.3f}")
    chosen = pick(results)
    print(f"picked: {chosen} (search/duplicates.py DEMO_THRESHOLD = {DEMO_THRESHOLD})")
    at = chosen if chosen is not None else DEMO_THRESHOLD
    shares = per_edit_recall(vectors, generated, at)
    print(f"copies grouped with their original at {at}: " + ", ".join(f"{k} {v:.2f}" for k, v in shares.items()))
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        for dim in (512, 128):
            seconds, found = timing(size, dim, 0.95)
            print(f"grouping {size} vectors of dim {dim}: {seconds:.2f} s ({found} groups)")


if __name__ == "__main__":
    main()
