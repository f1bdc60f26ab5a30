"""Query latency at 10 k, 100 k and 1 M images: text encode + vector search + metadata, as the API runs it.

    python benchmarks/query.py                       # sizes 10000,100000,1000000, dim 512
    python benchmarks/query.py --sizes 10000 --queries 50
    python benchmarks/query.py --text-precisions fp32,int8     # also with the int8 query encoder

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
    parser.add_argument("--text-precisions", default="fp32", help="comma-separated: fp32, int8 (query encoder)")
    args = parser.parse_args()
    precisions = args.text_precisions.split(",")
    sizes = [int(s) for s in args.sizes.split(",")]
    texts = short_queries(args.queries)
    rows = []
    agreement: dict[int, float] = {}  # size -> mean share of the int8 query's top 10 in the fp32 query's
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        config = PUBLISHED_CONFIGS["ruclip-vit-base-patch32-384"]
        model_dir = make_random_checkpoint(work / "model", config, BPE)
        models = {p: search.load_model(model_dir, device="cpu", text_precision=p) for p in precisions}
        model = models[precisions[0]]
        for size in sizes:
            print(f"{size}: writing the index …", file=sys.stderr)
            vectors = clustered_unit_vectors(size, args.dim, clusters=max(100, size // 200), seed=size)
            folder = work / f"index-{size}"
            started = time.perf_counter()
            write_synthetic_index(folder, vectors, model_name=str(model_dir), fingerprint=model.fingerprint)
            build_s = time.perf_counter() - started
            faiss_file = next(folder.glob("vectors-*.faiss"))
            probes = clustered_unit_vectors(200, args.dim, clusters=max(100, size // 200), seed=size)
            found: dict[str, list[set[int]]] = {}
            for precision, encoder in models.items():
                index = search.open_index(folder, model=encoder)
                latencies = []
                found[precision] = []
                for text in texts:
                    index._term_cache.clear()  # every query pays its text encoding
                    began = time.perf_counter()
                    hits = index.search(text, k=10)
                    latencies.append((time.perf_counter() - began) * 1000)
                    assert len(hits) == 10
                    found[precision].append({hit.id for hit in hits})
                recall = recall_at_10(index._vectors.index, vectors, probes)
                latencies.sort()
                rows.append(
                    (
                        size,
                        kind_of(index._vectors.index),
                        precision,
                        statistics.median(latencies),
                        latencies[int(0.99 * (len(latencies) - 1))],
                        recall,
                        faiss_file.stat().st_size / size,
                        build_s,
                    )
                )
            if len(found) > 1:
                shared = np.mean([len(a & b) / 10 for a, b in zip(found["fp32"], found["int8"], strict=True)])
                agreement[size] = round(float(shared), 3)
            del index, vectors
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, faiss {faiss.__version__}"
    )
    print(f"{args.queries} short Russian text queries, k=10, dim {args.dim}, ViT-B/32-384 text tower on the CPU\n")
    print("| images | index | query encoder | p50 ms | p99 ms | recall@10 vs exact | bytes/image (FAISS) | build s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for size, kind, precision, p50, p99, recall, per_image, build_s in rows:
        print(
            f"| {size:,} | {kind} | {precision} | {p50:.1f} | {p99:.1f} | {recall:.3f} | {per_image:.0f} | "
            f"{build_s:.1f} |"
        )
    if len(models) > 1:  # how far the int8 query encoder moves the query vectors
        exact, fast = (models[p].encode_texts(texts) for p in ("fp32", "int8"))
        cosine = (exact * fast).sum(axis=1)
        print(
            f"\nint8 vs fp32 query vectors over {len(texts)} queries: cosine min {cosine.min():.5f}, "
            f"mean {cosine.mean():.5f}; share of the fp32 query's top 10 also in the int8 query's: {agreement}"
        )


if __name__ == "__main__":
    main()
