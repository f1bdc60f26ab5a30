"""Encoding speed of this project vs the reference ruclip 0.0.2, on the same random full-size weights.

    python benchmarks/encode.py                      # CPU, ruclip-vit-base-patch32-384 config
    python benchmarks/encode.py --device cuda        # ours fp16 autocast vs the reference in fp32

Each implementation runs in its own subprocess (same threads, fresh allocator), alternating over
--rounds; the table shows the median of all timed batches. Images: a batch of preprocessed pixels ->
unit vectors (preprocessing is identical in both and excluded). Texts: short Russian queries -> unit
vectors; ours is timed from the strings (tokenisation included, default batching: sorted by length,
batches of 64), the reference from token ids in one batch. `ours-int8` is the opt-in CPU mode.
Nothing is downloaded: the checkpoint is random, in the published format.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import search  # noqa: E402
from search.clip.runtime import keep_freed_memory_for_reuse  # noqa: E402
from search.testing import make_random_checkpoint, reference_model_module  # noqa: E402

BPE = REPO_ROOT / "tests" / "data" / "golden" / "tiny" / "model" / "bpe.model"
ADJECTIVES = ["рыжий", "чёрный", "белый", "маленький", "старый", "весёлый", "спящий", "мокрый"]
NOUNS = ["кот", "пёс", "ребёнок", "автомобиль", "дом", "велосипед", "лодка", "поезд"]
PLACES = ["на диване", "на пляже", "в снегу", "у окна"]


def short_queries(count: int) -> list[str]:
    combos = itertools.cycle(itertools.product(ADJECTIVES, NOUNS, PLACES))
    return [" ".join(next(combos)) for _ in range(count)]


def photo_like_images(count: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        base = rng.integers(0, 255, (1, 1, 3)) + np.linspace(-60, 60, 640)[None, :, None]
        noise = rng.normal(0, 20, (480, 640, 3))
        images.append(Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB"))
    return images


def timed(fn, repeats: int, device: str) -> list[float]:
    fn()  # warm-up: first-call allocations, kernel selection
    seconds = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return seconds


def worker(args: argparse.Namespace) -> None:
    """Time one implementation; print a JSON line; save its embeddings for the parity check."""
    work = Path(args.workdir)
    pixels = torch.load(work / "pixels.pt")
    texts = json.loads((work / "texts.json").read_text(encoding="utf-8"))
    device = args.device
    if args.worker.startswith("ours"):
        precision = "int8" if args.worker == "ours-int8" else args.precision
        model = search.load_model(work / "model", device=device, precision=precision)
        encode_images = lambda: model.encode_pixels(pixels)  # noqa: E731
        encode_texts = lambda: model.encode_texts(texts)  # noqa: E731  (all at once, default batching)
    else:
        if args.worker == "reference-tuned-malloc":
            keep_freed_memory_for_reuse()
        network = reference_model_module().CLIP.from_pretrained(str(work / "model")).eval().to(device)
        ids = search.load_model(work / "model", device="cpu").tokenize(texts)  # identical ids (golden test)

        def unit(x: torch.Tensor) -> np.ndarray:
            return (x / x.norm(dim=-1, keepdim=True)).float().cpu().numpy()

        def encode_images() -> np.ndarray:
            with torch.no_grad():
                return unit(network.encode_image(pixels.to(device)))

        def encode_texts() -> np.ndarray:
            with torch.no_grad():
                return unit(network.encode_text(ids.to(device)))

    image_seconds = timed(encode_images, args.repeats, device)
    text_seconds = timed(encode_texts, args.repeats, device)
    np.save(work / f"{args.worker}-images.npy", encode_images())
    np.save(work / f"{args.worker}-texts.npy", encode_texts())
    print(json.dumps({"image_seconds": image_seconds, "text_seconds": text_seconds}))


def run_worker(name: str, args: argparse.Namespace, work: Path) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        name,
        "--workdir",
        str(work),
        "--device",
        args.device,
        "--precision",
        args.precision,
        "--repeats",
        str(args.repeats),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{name} worker failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="ruclip-vit-base-patch32-384", choices=sorted(search.PUBLISHED_CONFIGS))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precision", default="auto", help="ours: auto (fp16 on CUDA, fp32 on CPU), fp32, fp16, bf16")
    parser.add_argument("--image-batch", type=int, default=32)
    parser.add_argument("--text-batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=4, help="timed batches per worker run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each implementation")
    parser.add_argument("--skip-tuned-reference", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = search.PUBLISHED_CONFIGS[args.config]
        make_random_checkpoint(work / "model", config, BPE, seed=0)
        model = search.load_model(work / "model", device="cpu")
        torch.save(
            torch.stack([model.preprocess(im) for im in photo_like_images(args.image_batch)]), work / "pixels.pt"
        )
        (work / "texts.json").write_text(json.dumps(short_queries(args.text_batch), ensure_ascii=False))
        del model

        names = ["reference", "ours"]
        if args.device == "cpu":
            names += ["ours-int8"] + ([] if args.skip_tuned_reference else ["reference-tuned-malloc"])
        runs: dict[str, dict[str, list[float]]] = {n: {"image_seconds": [], "text_seconds": []} for n in names}
        for _ in range(args.rounds):
            for name in names:
                for key, values in run_worker(name, args, work).items():
                    runs[name][key] += values

        def rate(name: str, key: str, batch: int) -> float:
            return batch / statistics.median(runs[name][key])

        machine = platform.processor() or platform.machine()
        print(
            f"config {args.config}, device {args.device}, ours precision {args.precision}, "
            f"torch {torch.__version__}, threads {torch.get_num_threads()}, {machine}"
        )
        print(
            f"images: batch {args.image_batch} of {config.image_resolution}px pixels; "
            f"texts: batch {args.text_batch} short queries ({args.repeats}×{args.rounds} timed batches each)"
        )
        print("| implementation | images/s | × ref | texts/s | × ref |")
        print("| --- | --- | --- | --- | --- |")
        base_images = rate("reference", "image_seconds", args.image_batch)
        base_texts = rate("reference", "text_seconds", args.text_batch)
        for name in names:
            images = rate(name, "image_seconds", args.image_batch)
            texts = rate(name, "text_seconds", args.text_batch)
            print(f"| {name} | {images:.2f} | {images / base_images:.2f} | {texts:.1f} | {texts / base_texts:.2f} |")
        for name, kind in itertools.product([n for n in names if n.startswith("ours")], ("images", "texts")):
            ours, ref = np.load(work / f"{name}-{kind}.npy"), np.load(work / f"reference-{kind}.npy")
            cosine = (ours * ref).sum(axis=1)
            print(f"parity {name} {kind}: max |Δ| = {np.abs(ours - ref).max():.2e}, min cosine = {cosine.min():.6f}")


if __name__ == "__main__":
    main()
