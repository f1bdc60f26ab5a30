"""`python -m search evaluate` on the knobs it exists for, with the demo model on generated photos.

    python benchmarks/evaluate.py                          # writes the data set to /tmp/evaluate-data first
    python benchmarks/evaluate.py --data DIR --per-pair 20 --seeds 5

The data (training/world.py's demo world, pictures never used in training: purpose "evaluate"):
- DIR/pairs/<colour shape>/*.jpg: `--per-pair` 640 × 480 JPEGs (quality 90) of each of the 32
  colour-shape pairs, the class folders named as the demo's queries («красная звезда»); at this size
  the fast JPEG path decodes at 1/4 scale, so fast and exact decoding differ;
- DIR/captions.jsonl: one more photo of each pair with two captions («красная звезда», «звезда красного
  цвета»), the images under DIR/captioned/.

Each knob combination runs the command as a user would (`--json --no-cache`, so every run decodes
and encodes, and its wall time is comparable) and prints one Markdown row per run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def write_data(root: Path, per_pair: int) -> None:
    from training.captions import COLOURS, SHAPES, adjective
    from training.world import DEFAULT_BACKGROUNDS, labelled_picture, load_backgrounds

    photos = load_backgrounds(DEFAULT_BACKGROUNDS)
    pairs = len(COLOURS) * len(SHAPES)
    lines = []
    for index in range((per_pair + 1) * pairs):  # colours fastest, then shapes: every pair per round
        picture = labelled_picture("evaluate", 0, index, (640, 480), photos)
        name = f"{adjective(picture.colour, picture.shape)} {picture.shape.name}"
        if index < per_pair * pairs:
            folder = root / "pairs" / name
        else:
            folder = root / "captioned"
            relative = f"captioned/{index:05d}.jpg"
            captions = [name, f"{picture.shape.name} {picture.colour.genitive} цвета"]
            lines.append(json.dumps({"image": relative, "captions": captions}, ensure_ascii=False))
        folder.mkdir(parents=True, exist_ok=True)
        picture.image.save(folder / f"{index:05d}.jpg", "JPEG", quality=90)
    (root / "captions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(*argv: str) -> tuple[dict, float]:
    command = [sys.executable, "-m", "search", "evaluate", *argv, "--model", "demo", "--device", "cpu"]
    command += ["--json", "--no-cache"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(done.stderr)
    return json.loads(done.stdout), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("/tmp/evaluate-data"))
    parser.add_argument("--per-pair", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    if not (args.data / "captions.jsonl").exists():
        write_data(args.data, args.per_pair)
    pairs, captions = str(args.data / "pairs"), str(args.data / "captions.jsonl")
    grid = [(decoding, precision) for decoding in ("fast", "exact") for precision in ("fp32", "int8")]

    def knobs(decoding: str, precision: str) -> list[str]:
        return ["--precision", precision, *(["--exact-decoding"] if decoding == "exact" else [])]

    print("| zero-shot: decoding | precision | ensemble | top-1 | top-5 | mean per-class | s |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for decoding, precision in grid:
        for ensemble in (True, False):
            extra = [] if ensemble else ["--no-ensemble"]
            result, seconds = run("zeroshot", "--dataset", pairs, *knobs(decoding, precision), *extra)
            print(
                f"| {decoding} | {precision} | {'on' if ensemble else 'off'} | {result['top1']:.3f} | "
                f"{result['top5']:.3f} | {result['mean_per_class_recall']:.3f} | {seconds:.1f} |"
            )
    print("\n| few-shot: decoding | precision | 1 | 2 | 4 | 8 | 16 | s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for decoding, precision in grid:
        result, seconds = run("fewshot", "--dataset", pairs, "--seeds", str(args.seeds), *knobs(decoding, precision))
        cells = " | ".join(f"{row['mean']:.3f} ± {row['std']:.3f}" for row in result["shots"].values())
        print(f"| {decoding} | {precision} | {cells} | {seconds:.1f} |")
    print("\n| retrieval: decoding | precision | t→i R@1 | R@5 | R@10 | i→t R@1 | R@5 | R@10 | s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for decoding, precision in grid:
        result, seconds = run("retrieval", "--captions", captions, *knobs(decoding, precision))
        cells = " | ".join(f"{v:.3f}" for v in [*result["text_to_image"].values(), *result["image_to_text"].values()])
        print(f"| {decoding} | {precision} | {cells} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
