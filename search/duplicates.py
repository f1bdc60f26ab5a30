"""Near-duplicate groups: photos whose embeddings are near-identical (bursts, resized or re-encoded
copies, light edits), found from the stored vectors alone (numpy and faiss; no SQL, no pixels).

Two photos are linked when the cosine of their embeddings is at least the threshold; a group is a
connected component of the links (union-find). Linking alone chains: A~B and B~C put A and C in one
group however far apart they are, and in a dense part of a collection (many photos of one subject)
a chain can swallow hundreds of different photos. So every group must also hold together as a
whole: the least similar pair in it must reach `threshold - CHAIN_SLACK` (a complete-linkage
bound). A group that does not is split by linking it again at a higher threshold, step by step,
until each part holds together.

The threshold depends on the model (its embeddings' scale): see default_threshold. Nothing here
deletes or moves a file; the groups are only shown.
"""

from __future__ import annotations

import math

import faiss
import numpy as np
import numpy.typing as npt

from .constants import DEMO_MODEL

# Measured on the demo model with benchmarks/duplicates.py (bursts, 50 % resizes, JPEG q60,
# brightness ±10 %, 5 % crops mixed with distinct photos and hard negatives): precision 0.973,
# recall 0.990; the middle of the thresholds where both are ≥ 0.95 (0.955-0.975). See README.md.
DEMO_THRESHOLD = 0.965
# ruCLIP: unmeasured here (no real weights offline). CLIP image embeddings of re-encoded, resized
# or lightly edited copies of a photo typically score 0.95 or more against each other, while
# different shots of one scene score 0.85-0.93; 0.95 is the usual starting point, a parameter.
RUCLIP_THRESHOLD = 0.95
# A group's least similar pair may sit this far under the linking threshold. Measured with the
# benchmark: at 0.05 (loose) only 0.98 passes (precision 0.994, recall 0.976); at 0.01 every
# threshold from 0.955 to 0.975 does (a hard negative linked to one copy is far from the others).
CHAIN_SLACK = 0.01
SPLIT_STEP = 0.005  # how much the threshold rises each time a chained group is split again
EXACT_UP_TO = 50_000  # photos searched for pairs exhaustively; above, an IVF index (see _candidate_pairs)
WHOLE_CHECK_UP_TO = 4096  # a group larger than this is split without computing all its pairs


def default_threshold(model_name: str | None) -> float:
    """The cosine from which two photos count as near-duplicates, for a model by name."""
    return DEMO_THRESHOLD if model_name == DEMO_MODEL else RUCLIP_THRESHOLD


def check_threshold(threshold: float) -> float:
    """A cosine threshold in (0, 1], as a float; a ValueError naming the bad value otherwise."""
    value = float(threshold)
    if not math.isfinite(value) or not 0.0 < value <= 1.0:
        raise ValueError(f"a near-duplicate threshold is a cosine in (0, 1], e.g. 0.95; got {threshold!r}")
    return value


def group_vectors(
    ids: npt.NDArray[np.int64],
    vectors: npt.NDArray[np.float32],
    threshold: float,
    *,
    min_size: int = 2,
    slack: float = CHAIN_SLACK,
) -> list[npt.NDArray[np.int64]]:
    """Groups of ids whose unit `vectors` are near-identical, largest first (ties: smallest id
    first), each group's ids in ascending order; groups under `min_size` are left out."""
    threshold = check_threshold(threshold)
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) < 2:
        return []
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    left, right, _ = _candidate_pairs(vectors, threshold)
    groups = []
    for members in _components(len(ids), left, right):
        groups.extend(_held_together(members, vectors, threshold, slack, threshold))
    found = [np.sort(ids[members]) for members in groups if len(members) >= max(2, min_size)]
    found.sort(key=lambda group: (-len(group), int(group[0])))
    return found


def _candidate_pairs(
    vectors: npt.NDArray[np.float32], threshold: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Every pair (i < j) with cosine ≥ threshold, by FAISS range search. Exhaustive up to
    EXACT_UP_TO photos; above, an inverted-file index probed in 16 of its lists: near-duplicates are
    so close that they fall in the same or a neighbouring list, and the search stays near-linear."""
    n, dim = vectors.shape
    if n <= EXACT_UP_TO:
        index: faiss.Index = faiss.IndexFlatIP(dim)
    else:
        lists = int(4 * math.sqrt(n))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        sample = vectors[np.random.default_rng(0).choice(n, size=min(n, 64 * lists), replace=False)]
        index.train(sample)
        index.nprobe = 16
    index.add(vectors)
    # Float rounding puts a vector's product with itself or an exact copy a hair under 1.0.
    limits, scores, found = index.range_search(vectors, threshold - 1e-6)
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(limits.astype(np.int64)))
    keep = rows < found  # each pair once, no photo with itself
    return rows[keep], found[keep].astype(np.int64), scores[keep]


def _components(n: int, left: npt.NDArray[np.int64], right: npt.NDArray[np.int64]) -> list[npt.NDArray[np.int64]]:
    """Connected components (positions 0..n-1) of the links, with union-find; singletons left out."""
    parent = np.arange(n, dtype=np.int64)

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]  # path halving keeps the trees flat
            x = int(parent[x])
        return x

    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([root(x) for x in range(n)], dtype=np.int64)
    order = np.argsort(roots, kind="stable")
    starts = np.flatnonzero(np.diff(roots[order], prepend=-1))
    return [members for members in np.split(order, starts[1:]) if len(members) > 1]


def _held_together(
    members: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32], threshold: float, slack: float, base: float
) -> list[npt.NDArray[np.int64]]:
    """`members` as one group when its least similar pair reaches threshold - slack; else its parts
    linked at a threshold raised by SPLIT_STEP, each checked the same way. A chain that no
    threshold breaks (evenly spaced look-alikes) is cut greedily at the `base` threshold."""
    if len(members) < 2:
        return [members]
    floor = threshold - slack
    if len(members) <= WHOLE_CHECK_UP_TO:
        block = vectors[members]
        if float((block @ block.T).min()) >= floor - 1e-6:
            return [members]
    raised = threshold + SPLIT_STEP
    if raised > 1.0:
        return _greedy(members, vectors, base, slack)
    left, right, _ = _candidate_pairs(np.ascontiguousarray(vectors[members]), raised)
    parts = _components(len(members), left, right)
    if not parts:  # every link broke at once: evenly spaced look-alikes, cut greedily instead
        return _greedy(members, vectors, base, slack)
    grouped = np.zeros(len(members), dtype=bool)
    result: list[npt.NDArray[np.int64]] = []
    for part in parts:
        grouped[part] = True
        result.extend(_held_together(members[part], vectors, raised, slack, base))
    result.extend(members[i : i + 1] for i in np.flatnonzero(~grouped))  # now alone
    return result


def _greedy(
    members: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32], threshold: float, slack: float
) -> list[npt.NDArray[np.int64]]:
    """Cut a chain into groups that hold together: the member with the most links seeds a group,
    which takes its linked members, closest first, while every pair stays ≥ threshold - slack;
    then the same on what is left. (Too large a chain to compare all pairs: every member alone.)"""
    if len(members) > WHOLE_CHECK_UP_TO:
        return [members[i : i + 1] for i in range(len(members))]
    block = vectors[members]
    similarity = block @ block.T
    linked = similarity >= threshold - 1e-6
    floor = threshold - slack - 1e-6
    left = np.ones(len(members), dtype=bool)
    result = []
    while left.any():
        counts = np.where(left, (linked & left[None, :]).sum(axis=1), -1)
        seed = int(np.argmax(counts))
        group = [seed]
        left[seed] = False
        for candidate in np.argsort(-similarity[seed]):
            if left[candidate] and linked[seed, candidate] and similarity[candidate, group].min() >= floor:
                group.append(int(candidate))
                left[candidate] = False
        result.append(members[np.array(group)])
    return result
