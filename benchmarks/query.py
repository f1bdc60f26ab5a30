"""Query latency at 10 k, 100 k and 1 M images: text encode + vector search + metadata, as the API runs it.

    python benchmarks/query.py                       # sizes 10000,100000,1000000, dim 512
    python benchmarks/query.py --sizes 10000 --queries 50
    python benchmarks/query.py --encoders fp32,fp32-noprepack,int8   # compare query encoders

Each size gets a real index folder (SQLite rows with vectors and metadata, the FAISS file the
indexer would choose for that size) of synthetic clustered unit vectors. It is then queried the way
the product queries it: by a reader process of its own (the indexer and the search page are
different processes), started after the written files are flushed to disk, which opens it with
search.open_index and asks short Russian texts, each encoder in turn, through the ruclip-vit-base-patch32-384 text tower
(random weights: speed is what is measured). The term cache is cleared before each query, so every
query pays its text encoding; "encode p50" is that part alone (the same texts encoded one by one).

Query encoders: fp32 (exact, the default: text-tower weights prepacked for oneDNN), fp32-noprepack
(exact, torch's default kernels, as with RUPHOTO_NO_PREPACK=1), int8 (the opt-in quantized text
transformer). Recall@10 compares the chosen FAISS index with an exact scan on query vectors drawn
near the data. Memory per image is the FAISS file's size on disk (what a reader holds in RAM);
SQLite keeps the exact vectors on disk besides.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import search  # noqa: E402
from benchmarks.encode import short_queries  # noqa: E402
from search.clip.config import PUBLISHED_CONFIGS  # noqa: E402
from search.constants import BOS_ID, EOS_ID  # noqa: E402
from search.settings import NO_PREPACK_VAR  # noqa: E402
from search.store.vectors import kind_of  # noqa: E402
from search.testing import clustered_unit_vectors, make_random_checkpoint, write_synthetic_index  # noqa: E402

BPE = REPO_ROOT / "tests" / "data" / "golden" / "tiny" / "model" / "bpe.model"
# name -> (text_precision, prepacked text tower)
ENCODERS = {"fp32": ("fp32", True), "fp32-noprepack": ("fp32", False), "int8": ("int8", True)}
# Query lengths in tokens (bos and eos included) for the encode-by-length table: the test BPE here
# (400 tokens) splits words about twice as finely as ruCLIP's 49 408-token one.
TOKEN_LENGTHS = (6, 12, 24)


def token_ids(model: search.RuClip, length: int, seed: int) -> torch.Tensor:
    """One row of `length` token ids (random words between bos and eos), padded like tokenize's."""
    ids = torch.zeros(1, model.config.context_length, dtype=torch.long)
    words = torch.randint(
        EOS_ID + 1, model.config.vocab_size, (length - 2,), generator=torch.Generator().manual_seed(seed)
    )
    ids[0, :length] = torch.cat([torch.tensor([BOS_ID]), words, torch.tensor([EOS_ID])])
    return ids


def percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[int(share * (len(sorted_values) - 1))]


def recall_at_10(index: faiss.Index, vectors: np.ndarray, queries: np.ndarray) -> float:
    exact = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
    exact.add_with_ids(vectors, np.arange(1, len(vectors) + 1))
    _, truth = exact.search(queries, 10)
    _, found = index.search(queries, 10)
    return float(np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)]))


def load_encoder(model_dir: Path, encoder: str) -> search.RuClip:
    text_precision, prepack = ENCODERS[encoder]
    if not prepack:
        os.environ[NO_PREPACK_VAR] = "1"  # read while the model loads
    try:
        return search.load_model(model_dir, device="cpu", text_precision=text_precision)
    finally:
        os.environ.pop(NO_PREPACK_VAR, None)


def in_turn(encoders: list[str], turn: int) -> list[str]:
    """The encoders rotated by `turn`, so that none is always first after a query of another."""
    start = turn % len(encoders)
    return encoders[start:] + encoders[:start]


def reader(args: argparse.Namespace) -> None:
    """The timed part, in its own process: open the index once per encoder and ask every text with
    each of them in turn (so a slow spell of this shared machine hits all encoders alike); print JSON."""
    encoders = args.encoders.split(",")
    models = {encoder: load_encoder(args.model_dir, encoder) for encoder in encoders}
    indexes = {encoder: search.open_index(args.reader, model=models[encoder]) for encoder in encoders}
    texts = short_queries(args.queries)
    results = {encoder: {"totals": [], "encodes": [], "found": []} for encoder in encoders}
    for index in indexes.values():
        index.search(texts[0], k=10)  # warm-up: first-call allocations, FAISS file pages
    for turn, text in enumerate(texts):
        for encoder in in_turn(encoders, turn):
            index = indexes[encoder]
            index._query_vectors.clear_cache()  # every query pays its text encoding
            began = time.perf_counter()
            hits = index.search(text, k=10)
            results[encoder]["totals"].append((time.perf_counter() - began) * 1000)
            assert len(hits) == 10
            results[encoder]["found"].append([hit.id for hit in hits])
    for turn, text in enumerate(texts):  # the encoding alone, the same way
        for encoder in in_turn(encoders, turn):
            began = time.perf_counter()
            models[encoder].encode_texts([text])
            results[encoder]["encodes"].append((time.perf_counter() - began) * 1000)
    for encoder, model in models.items():
        results[encoder]["vectors"] = model.encode_texts(texts).tolist()
        results[encoder]["by_length"] = {}
        for length in TOKEN_LENGTHS:
            times = []
            for seed in range(30):
                ids = token_ids(model, length, seed)
                began = time.perf_counter()
                model.encode_token_ids(ids)
                times.append((time.perf_counter() - began) * 1000)
            results[encoder]["by_length"][length] = statistics.median(times[5:])  # 5 warm-up
    print(json.dumps(results))


def run_reader(folder: Path, model_dir: Path, encoders: list[str], queries: int) -> dict:
    command = [sys.executable, __file__, "--reader", str(folder), "--model-dir", str(model_dir)]
    command += ["--encoders", ",".join(encoders), "--queries", str(queries)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--encoders", default="fp32", help=f"comma-separated query encoders: {', '.join(ENCODERS)}")
    parser.add_argument("--reader", help=argparse.SUPPRESS)  # internal: the timed reader process
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reader:
        reader(args)
        return
    encoders = args.encoders.split(",")
    if unknown := set(encoders) - set(ENCODERS):
        parser.error(f"unknown encoder(s) {', '.join(sorted(unknown))}; choose from {', '.join(ENCODERS)}")
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    by_length: dict[str, dict[str, float]] = {}  # encoder -> tokens -> ms, from the largest size's reader
    agreement: dict[int, float] = {}  # size -> mean share of the fp32 query's top 10 in the int8 query's
    cosines = None
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        config = PUBLISHED_CONFIGS["ruclip-vit-base-patch32-384"]
        model_dir = make_random_checkpoint(work / "model", config, BPE)
        fingerprint = search.load_model(model_dir, device="cpu").fingerprint
        for size in sizes:
            print(f"{size}: writing the index …", file=sys.stderr)
            vectors = clustered_unit_vectors(size, args.dim, clusters=max(100, size // 200), seed=size)
            folder = work / f"index-{size}"
            started = time.perf_counter()
            write_synthetic_index(folder, vectors, model_name=str(model_dir), fingerprint=fingerprint)
            build_s = time.perf_counter() - started
            faiss_file = next(folder.glob("vectors-*.faiss"))
            chosen = faiss.read_index(str(faiss_file))
            probes = clustered_unit_vectors(200, args.dim, clusters=max(100, size // 200), seed=size)
            recall = recall_at_10(chosen, vectors, probes)
            del vectors
            os.sync()  # the reader should not share the cores with the kernel writing the index out
            print(f"{size}: querying …", file=sys.stderr)
            results = run_reader(folder, model_dir, encoders, args.queries)
            for encoder, result in results.items():
                by_length[encoder] = result["by_length"]
                totals, encodes = sorted(result["totals"]), sorted(result["encodes"])
                rows.append(
                    (size, kind_of(chosen).name, encoder, statistics.median(totals), percentile(totals, 0.99))
                    + (statistics.median(encodes), recall, faiss_file.stat().st_size / size, build_s)
                )
            if "fp32" in results and "int8" in results:
                exact, fast = results["fp32"], results["int8"]
                shared = [len(set(a) & set(b)) / 10 for a, b in zip(exact["found"], fast["found"], strict=True)]
                agreement[size] = round(float(np.mean(shared)), 3)
                cosines = (np.array(exact["vectors"]) * np.array(fast["vectors"])).sum(axis=1)
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, faiss {faiss.__version__}"
    )
    print(f"{args.queries} short Russian text queries, k=10, dim {args.dim}, ViT-B/32-384 text tower on the CPU\n")
    print(
        "| images | index | query encoder | p50 ms | p99 ms | encode p50 ms | recall@10 vs exact "
        "| bytes/image (FAISS) | build s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for size, kind, encoder, p50, p99, encode_p50, recall, per_image, build_s in rows:
        print(
            f"| {size:,} | {kind} | {encoder} | {p50:.1f} | {p99:.1f} | {encode_p50:.1f} | {recall:.3f} | "
            f"{per_image:.0f} | {build_s:.1f} |"
        )
    lengths = " | ".join(f"{length} tokens" for length in TOKEN_LENGTHS)
    print(f"\nencode one query by its length, p50 ms (the reader of {sizes[-1]:,} images)\n")
    print(f"| query encoder | {lengths} |")
    print("| --- |" + " --- |" * len(TOKEN_LENGTHS))
    for encoder, times in by_length.items():
        print(f"| {encoder} | " + " | ".join(f"{ms:.1f}" for ms in times.values()) + " |")
    if cosines is not None:  # how far the int8 query encoder moves the query vectors
        print(
            f"\nint8 vs fp32 query vectors over {args.queries} queries: cosine min {cosines.min():.5f}, "
            f"mean {cosines.mean():.5f}; share of the fp32 query's top 10 also in the int8 query's: {agreement}"
        )


if __name__ == "__main__":
    main()
