"""Query latency at 10 k, 100 k and 1 M images: text encode + vector search + metadata, as the API runs it.

    python benchmarks/query.py                       # sizes 10000,100000,1000000, dim 512
    python benchmarks/query.py --sizes 10000 --queries 50

Each size gets a real index folder (SQLite rows with vectors and metadata, the FAISS file the
indexer would choose for that size) of synthetic clustered unit vectors, opened with
search.open_index and queried with short Russian texts through the ruclip-vit-base-patch32-384 text
tower (random weights: speed is what is measured). The term cache is cleared before each query,
so every query pays its text encoding. Recall@10 compares the chosen index with an exact scan
on query vectors drawn near the data. Memory per image is the FAISS file's size on disk
(what a reader holds in RAM); SQLite keeps the exact vectors on disk besides.
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

import faiss
import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import search  # noqa: E402
from benchmarks.encode import short_queries  # noqa: E402
from search.config import PUBLISHED_CONFIGS  # noqa: E402
from search.testing import clustered_unit_vectors, make_random_checkpoint, write_synthetic_index  # noqa: E402
from search.vectors import kind_of  # noqa: E402

BPE = REPO_ROOT / "tests" / "data" / "golden" / "tiny" / "model" / "bpe.model"


def recall_at_10(index: faiss.Index, vectors: np.ndarray, queries: np.ndarray) -> float:
    exact = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
    exact.add_with_ids(vectors, np.arange(1, len(vectors) + 1))
    _, truth = exact.search(queries, 10)
    _, found = index.search(queries, 10)
    return float(np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dim", type=int, default=512)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    texts = short_queries(args.queries)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        config = PUBLISHED_CONFIGS["ruclip-vit-base-patch32-384"]
        model_dir = make_random_checkpoint(work / "model", config, BPE)
        model = search.load_model(model_dir, device="cpu")
        for size in sizes:
            print(f"{size}: writing the index …", file=sys.stderr)
            vectors = clustered_unit_vectors(size, args.dim, clusters=max(100, size // 200), seed=size)
            folder = work / f"index-{size}"
            started = time.perf_counter()
            write_synthetic_index(folder, vectors, model_name=str(model_dir), fingerprint=model.fingerprint)
            build_s = time.perf_counter() - started
            index = search.open_index(folder, model=model)
            faiss_file = next(folder.glob("vectors-*.faiss"))
            latencies = []
            for text in texts:
                index._term_cache.clear()  # every query pays its text encoding
                began = time.perf_counter()
                hits = index.search(text, k=10)
                latencies.append((time.perf_counter() - began) * 1000)
                assert len(hits) == 10
            probes = clustered_unit_vectors(200, args.dim, clusters=max(100, size // 200), seed=size)
            recall = recall_at_10(index._vectors.index, vectors, probes)
            latencies.sort()
            rows.append(
                (
                    size,
                    kind_of(index._vectors.index),
                    statistics.median(latencies),
                    latencies[int(0.99 * (len(latencies) - 1))],
                    recall,
                    faiss_file.stat().st_size / size,
                    build_s,
                )
            )
            del index, vectors
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, faiss {faiss.__version__}"
    )
    print(f"{args.queries} short Russian text queries, k=10, dim {args.dim}, ViT-B/32-384 text tower on the CPU\n")
    print("| images | index | p50 ms | p99 ms | recall@10 vs exact | bytes/image (FAISS) | index build s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for size, kind, p50, p99, recall, per_image, build_s in rows:
        print(f"| {size:,} | {kind} | {p50:.1f} | {p99:.1f} | {recall:.3f} | {per_image:.0f} | {build_s:.1f} |")


if __name__ == "__main__":
    main()
