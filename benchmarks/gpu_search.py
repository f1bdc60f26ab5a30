"""Exact search on the GPU or not (issue 14, item 4): faiss's CPU IndexFlatIP against a plain
matrix product and top-k on the GPU, with a filter (a third of the collection allowed, as a date or
folder filter leaves it), on 30 k to 1 M clustered unit vectors of 512 dimensions.

    python benchmarks/gpu_search.py --device cuda

faiss-gpu's wheel (~100 MB) cannot travel to the lent machine (64 MiB for the whole tree), so the
GPU side is torch: what faiss-gpu's flat index does (one GEMM and a k-selection) is the same work.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from search.testing import clustered_unit_vectors  # noqa: E402


def timed(function, repeat: int = 5) -> float:
    function()
    started = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - started) / repeat * 1000


def torch_search(queries: torch.Tensor, vectors: torch.Tensor, k: int, mask: torch.Tensor | None) -> None:
    scores = queries @ vectors.T
    if mask is not None:
        scores.masked_fill_(mask, float("-inf"))
    _, ids = scores.topk(k, dim=1)
    ids.cpu()  # the caller needs the ids on the host: the copy and the sync count


def one_size(size: int, k: int, device: str) -> None:
    import faiss

    vectors = clustered_unit_vectors(size, 512, seed=1)
    allowed = np.arange(size) % 3 == 0
    index = faiss.IndexFlatIP(512)
    index.add(vectors)
    params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.flatnonzero(allowed).astype(np.int64)))
    on_device = torch.from_numpy(vectors).to(device, torch.float16 if device == "cuda" else torch.float32)
    mask = torch.from_numpy(~allowed).to(device)
    for count in (1, 64):
        q = vectors[:count] + 0.01
        q_device = torch.from_numpy(q).to(on_device.device, on_device.dtype)
        times = [
            timed(partial(index.search, q, k)),
            timed(partial(index.search, q, k, params=params)),
            timed(partial(torch_search, q_device, on_device, k, None)),
            timed(partial(torch_search, q_device, on_device, k, mask)),
        ]
        print(f"| {size:,} | {count} | " + " | ".join(f"{t:.3f}" for t in times) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[30_000, 300_000, 1_000_000])
    parser.add_argument("--k", type=int, default=100)
    args = parser.parse_args()
    import faiss

    print(f"faiss {faiss.__version__} ({faiss.omp_get_max_threads()} threads) vs torch on {args.device}")
    print("| vectors | queries | faiss CPU flat ms | faiss CPU flat + filter ms | torch ms | torch + filter ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for size in args.sizes:
        one_size(size, args.k, args.device)


if __name__ == "__main__":
    main()
