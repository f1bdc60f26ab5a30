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
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from search.duplicates import DEMO_THRESHOLD, PRINT_THRESHOLD, Prints, group_vectors  # noqa: E402

SIZE = (640, 480)
EDITS = ("burst", "burst", "resized 50 %", "JPEG q60", "brightness ±10 %", "rotated 1°", "crop 5 %")
# Hard negatives: the same colour and shape on another background (drawn anew: another place and
# size too), and the same scene framed closer (its central 60 % enlarged: same background, the
# subject larger), as a second photo taken a step nearer would be.
HARD_NEGATIVES = ("another background", "closer framing")
PRINT_THRESHOLDS = (0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3)
THRESHOLDS = tuple(round(0.85 + 0.01 * step, 3) for step in range(15))  # 0.85 ... 0.99


@dataclass(frozen=True)
class Generated:
    images: list[Image.Image]
    scene: np.ndarray  # (N,) which scene a picture shows; a distinct photo is a scene of its own
    edit: list[str]  # "original", one of EDITS, one of HARD_NEGATIVES or "distinct"
    jpegs: list[bytes]  # each picture's JPEG file, as a build would read it

    def prints(self, resolution: int = 64) -> Prints:
        """The pictures' prints as a build with a model of this input size computes them: decoded
        from the JPEG by search/images/decode.py's way (DCT-scaled), then picture_print."""
        from search.images.decode import DRAFT_FACTOR
        from search.images.open import load_image
        from search.images.picture_print import picture_print

        stored = []
        for data in self.jpegs:
            with load_image(io.BytesIO(data), draft_short_side=DRAFT_FACTOR * resolution) as image:
                stored.append(picture_print(image))
        return Prints.of(stored)


def _through_jpeg(image: Image.Image, quality: int = 90) -> Image.Image:
    """The picture as a JPEG file of it decodes; the file's bytes kept in its info["jpeg"]."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    decoded = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    decoded.info["jpeg"] = buffer.getvalue()
    return decoded


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
    if edit == "rotated 1°":  # straightened by 1°, the corners it uncovers cropped away (2 % a side)
        turned = image.rotate(rng.choice((-1.0, 1.0)), Image.Resampling.BICUBIC)
        cut_w, cut_h = round(width * 0.02), round(height * 0.02)
        return _through_jpeg(turned.crop((cut_w, cut_h, width - cut_w, height - cut_h)))
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
    """`scenes` photos with their near-duplicates (EDITS), a hard negative of each kind per scene,
    `distinct` more photos."""
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
        kinds.append("another background")
        width, height = SIZE
        box = (round(width * 0.2), round(height * 0.2), round(width * 0.8), round(height * 0.8))
        images.append(_through_jpeg(original.crop(box).resize(SIZE, Image.Resampling.BICUBIC)))
        scene.append(2 * scenes + number)
        kinds.append("closer framing")
    for number in range(distinct):
        images.append(_through_jpeg(labelled_picture("duplicates-distinct", seed, number, SIZE, backgrounds).image))
        scene.append(3 * scenes + number)
        kinds.append("distinct")
    return Generated(images, np.array(scene), kinds, [image.info["jpeg"] for image in images])


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


def sweep(
    vectors: np.ndarray, truth: np.ndarray, thresholds=THRESHOLDS, prints: Prints | None = None
) -> list[tuple[float, float, float]]:
    """(threshold, precision, recall) for each cosine threshold (with the prints' check if given)."""
    ids = np.arange(len(truth), dtype=np.int64)
    return [(t, *pairwise_scores(group_vectors(ids, vectors, t, prints=prints), truth)) for t in thresholds]


def pick(results: list[tuple[float, float, float]], precision_floor: float = 0.98, recall_floor: float = 0.9):
    """The middle of the longest run of consecutive thresholds whose precision and recall reach
    the floors (the upper middle for an even run): the choice keeps a margin on both sides."""
    best: list[float] = []
    run: list[float] = []
    for threshold, precision, recall in results:
        run = [*run, threshold] if precision >= precision_floor and recall >= recall_floor else []
        if len(run) > len(best):
            best = run
    return best[len(best) // 2] if best else None


def encode_demo(generated: Generated) -> np.ndarray:
    import search

    model = search.load_model("demo", device="cpu")
    return model.encode_images(generated.images)


def per_kind(
    vectors: np.ndarray, generated: Generated, threshold: float, prints: Prints | None = None
) -> dict[str, float]:
    """For each kind of copy, the share grouped with its original (its recall); for each kind of
    hard negative, the share grouped with the original it imitates (wrong: 0 is right)."""
    ids = np.arange(len(vectors), dtype=np.int64)
    group_of = np.arange(len(vectors))
    for label, members in enumerate(group_vectors(ids, vectors, threshold, prints=prints)):
        group_of[members] = len(vectors) + label
    scenes = int((np.array(generated.edit) == "original").sum())
    originals = {
        int(s): i for i, (s, e) in enumerate(zip(generated.scene, generated.edit, strict=True)) if e == "original"
    }
    shares = {}
    for kind in (*dict.fromkeys(EDITS), *HARD_NEGATIVES):
        members = [i for i, e in enumerate(generated.edit) if e == kind]
        own = [originals[int(generated.scene[i]) % scenes] for i in members]  # a negative's scene: + k × scenes
        shares[kind] = float(np.mean([group_of[i] == group_of[o] for i, o in zip(members, own, strict=True)]))
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
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", default="10000,100000", help="vector counts to time grouping at ('' for none)")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, python {platform.python_version()}")
    started = time.perf_counter()
    generated = generate(args.scenes, args.distinct, seed=args.seed)
    vectors = encode_demo(generated)
    prints = generated.prints()
    seconds = time.perf_counter() - started
    print(
        f"{len(generated.images)} photos: {args.scenes} scenes × (original + {len(EDITS)} near-duplicates), "
        f"{args.scenes} × {len(HARD_NEGATIVES)} hard negatives, {args.distinct} distinct; "
        f"made, encoded and printed in {seconds:.1f} s"
    )
    alone = sweep(vectors, generated.scene)
    both = sweep(vectors, generated.scene, prints=prints)
    print(f"threshold | embedding alone: precision recall | with prints ≤ {PRINT_THRESHOLD}: precision recall")
    for (threshold, p1, r1), (_, p2, r2) in zip(alone, both, strict=True):
        print(f"  {threshold:.3f}   {p1:.3f} {r1:.3f}   {p2:.3f} {r2:.3f}")
    chosen = pick(both)
    print(f"picked (precision ≥ 0.98, recall ≥ 0.9): {chosen} (search/duplicates.py DEMO_THRESHOLD = {DEMO_THRESHOLD})")
    print(f"print threshold at cosine {DEMO_THRESHOLD}: precision recall")
    ids = np.arange(len(vectors), dtype=np.int64)
    for limit in PRINT_THRESHOLDS:
        limited = replace(prints, limit=limit)
        groups = group_vectors(ids, vectors, DEMO_THRESHOLD, prints=limited)
        precision, recall = pairwise_scores(groups, generated.scene)
        print(f"  {limit:.2f}   {precision:.3f} {recall:.3f}")
    print(f"per kind at cosine {DEMO_THRESHOLD} (copies: share grouped with their original; hard negatives: share")
    print("wrongly grouped with the original they imitate): embedding alone | with prints")
    shares_alone = per_kind(vectors, generated, DEMO_THRESHOLD)
    shares_both = per_kind(vectors, generated, DEMO_THRESHOLD, prints)
    for kind in shares_alone:
        print(f"  {kind:20s} {shares_alone[kind]:.2f} | {shares_both[kind]:.2f}")
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        for dim in (512, 128):
            seconds, found = timing(size, dim, 0.95)
            print(f"grouping {size} vectors of dim {dim}: {seconds:.2f} s ({found} groups)")


if __name__ == "__main__":
    main()
