"""Near-duplicate groups: photos that are the same shot (bursts, resized or re-encoded copies, light
edits), found from the stored vectors and pictures' prints (numpy and faiss; no SQL, no decoding).

Two photos are linked when the cosine of their embeddings is at least the threshold AND their prints
(8 × 8 colour cells of the whole picture, search/images/picture_print.py) differ by at most
PRINT_THRESHOLD. The embedding alone says "the same subject": a green circle on two backgrounds is
near in it, yet two pictures; the print tells them apart. A pair where a photo has no print (written
before schema 5 and not yet built again, or by the GPU engine) is judged by the embedding alone. A
group is a connected component of the links (union-find). Linking alone chains: A~B and B~C put A and C in one
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
from collections.abc import Sequence
from dataclasses import dataclass

import faiss
import numpy as np
import numpy.typing as npt

from .constants import DEMO_MODEL
from .i18n import _

# Measured on the demo model with benchmarks/duplicates.py (bursts, resizes, re-encodings,
# brightness, small rotations, crops, against hard negatives and distinct photos), with the print
# check: see BENCHMARKS.md, "Near-duplicate groups", and README.md for the rule.
DEMO_THRESHOLD = 0.91
# ruCLIP: unmeasured here (no real weights offline). CLIP image embeddings of re-encoded, resized
# or lightly edited copies of a photo typically score 0.95 or more against each other, while
# different shots of one scene score 0.85-0.93; 0.95 is the usual starting point, a parameter.
RUCLIP_THRESHOLD = 0.95
# A group's least similar pair may sit this far under the linking threshold. Measured with the
# benchmark: at 0.05 (loose) only 0.98 passes (precision 0.994, recall 0.976); at 0.01 every
# threshold from 0.955 to 0.975 does (a hard negative linked to one copy is far from the others).
CHAIN_SLACK = 0.01
# Two prints further apart than this (root mean square of the cells' difference, each print divided
# by its mean brightness so that a brightened copy keeps its print) are two pictures. Measured
# with benchmarks/duplicates.py: see BENCHMARKS.md, "Near-duplicate groups".
PRINT_THRESHOLD = 0.12
PAIRS_PER_STEP = 65_536  # candidate pairs whose prints are compared at once (50 MB of floats)
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
        raise ValueError(
            _("a near-duplicate threshold is a cosine in (0, 1], e.g. 0.95; got {threshold!r}").format(
                threshold=threshold
            )
        )
    return value


@dataclass(frozen=True)
class Prints:
    """The pictures' prints of the rows being grouped, in their order, as stored (uint8 cells: a
    million photos take 192 MB, not four times that), each print's scale (1 / its mean brightness),
    and which rows have one at all."""

    cells: npt.NDArray[np.uint8]  # (n, cells); a row without a print is zeros
    scale: npt.NDArray[np.float32]  # (n,)
    known: npt.NDArray[np.bool_]  # (n,)
    limit: float = PRINT_THRESHOLD

    @classmethod
    def of(cls, prints: Sequence[bytes | None], limit: float = PRINT_THRESHOLD) -> Prints:
        """Prints as stored (bytes of uint8 cells, all of one length, or None)."""
        length = next((len(p) for p in prints if p is not None), 0)
        cells = np.zeros((len(prints), length), dtype=np.uint8)
        known = np.zeros(len(prints), dtype=bool)
        for row, value in enumerate(prints):
            if value is not None and len(value) == length:  # another length: another version's print, unused
                cells[row] = np.frombuffer(value, dtype=np.uint8)
                known[row] = True
        means = cells.mean(axis=1, dtype=np.float32) if length else np.ones(len(prints), dtype=np.float32)
        return cls(cells, 1.0 / np.maximum(means, 1.0), known, limit)  # a black picture: as it is

    def take(self, rows: npt.NDArray[np.int64]) -> Prints:
        return Prints(self.cells[rows], self.scale[rows], self.known[rows], self.limit)

    def _normalised(self, rows: npt.NDArray[np.int64] | slice) -> npt.NDArray[np.float32]:
        return self.cells[rows].astype(np.float32) * self.scale[rows, None]

    def apart(self, left: npt.NDArray[np.int64], right: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """For each pair of rows: both have prints, and they differ by more than the limit."""
        result = self.known[left] & self.known[right]
        for start in range(0, len(left), PAIRS_PER_STEP):  # bounded memory however many pairs
            part = slice(start, start + PAIRS_PER_STEP)
            if result[part].any():
                difference = self._normalised(left[part]) - self._normalised(right[part])
                result[part] &= np.sqrt(np.mean(difference**2, axis=1)) > self.limit
        return result

    def apart_matrix(self) -> npt.NDArray[np.bool_]:
        """`apart` for every pair of rows, (n, n)."""
        if not self.known.any():
            return np.zeros((len(self.known), len(self.known)), dtype=bool)
        cells = self._normalised(slice(None)).astype(np.float64)
        squares = (cells**2).sum(axis=1)
        distance = (squares[:, None] + squares[None, :] - 2 * cells @ cells.T) / max(cells.shape[1], 1)
        return np.outer(self.known, self.known) & (np.sqrt(np.maximum(distance, 0.0)) > self.limit)


def print_distance(first: bytes, second: bytes) -> float:
    """How far apart two stored prints are, on PRINT_THRESHOLD's scale (the benchmark's measure)."""
    cells = Prints.of([first, second])._normalised(slice(None))
    return float(np.sqrt(np.mean((cells[0] - cells[1]) ** 2)))


def group_vectors(
    ids: npt.NDArray[np.int64],
    vectors: npt.NDArray[np.float32],
    threshold: float,
    *,
    prints: Prints | None = None,
    min_size: int = 2,
    slack: float = CHAIN_SLACK,
) -> list[npt.NDArray[np.int64]]:
    """Groups of ids whose unit `vectors` are near-identical and whose `prints` (None: none known)
    are near, largest first (ties: smallest id first), each group's ids in ascending order; groups
    under `min_size` are left out."""
    threshold = check_threshold(threshold)
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) < 2:
        return []
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if prints is None:
        prints = Prints.of([None] * len(ids))
    left, right = _links(vectors, threshold, prints)
    groups = []
    for members in _components(len(ids), left, right):
        groups.extend(_held_together(members, vectors, prints, threshold, slack, threshold))
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


def _links(
    vectors: npt.NDArray[np.float32], threshold: float, prints: Prints
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The pairs near in the embedding whose prints are not apart."""
    left, right, _similarities = _candidate_pairs(vectors, threshold)
    keep = ~prints.apart(left, right)
    return left[keep], right[keep]


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
    members: npt.NDArray[np.int64],
    vectors: npt.NDArray[np.float32],
    prints: Prints,
    threshold: float,
    slack: float,
    base: float,
) -> list[npt.NDArray[np.int64]]:
    """`members` as one group when its least similar pair reaches threshold - slack and no two of its
    prints are apart (the same shot throughout: a chain of prints drifts as embeddings do); else its parts
    linked at a threshold raised by SPLIT_STEP, each checked the same way. A chain that no
    threshold breaks (evenly spaced look-alikes) is cut greedily at the `base` threshold."""
    if len(members) < 2:
        return [members]
    floor = threshold - slack
    if len(members) <= WHOLE_CHECK_UP_TO:
        block = vectors[members]
        if float((block @ block.T).min()) >= floor - 1e-6 and not prints.take(members).apart_matrix().any():
            return [members]
    raised = threshold + SPLIT_STEP
    if raised > 1.0:
        return _greedy(members, vectors, prints, base, slack)
    left, right = _links(np.ascontiguousarray(vectors[members]), raised, prints.take(members))
    parts = _components(len(members), left, right)
    if not parts:  # every link broke at once: evenly spaced look-alikes, cut greedily instead
        return _greedy(members, vectors, prints, base, slack)
    grouped = np.zeros(len(members), dtype=bool)
    result: list[npt.NDArray[np.int64]] = []
    for part in parts:
        grouped[part] = True
        result.extend(_held_together(members[part], vectors, prints, raised, slack, base))
    result.extend(members[i : i + 1] for i in np.flatnonzero(~grouped))  # now alone
    return result


def _greedy(
    members: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32], prints: Prints, threshold: float, slack: float
) -> list[npt.NDArray[np.int64]]:
    """Cut a chain into groups that hold together: the member with the most links seeds a group,
    which takes its linked members, closest first, while every pair stays ≥ threshold - slack and
    no two prints are apart;
    then the same on what is left. (Too large a chain to compare all pairs: every member alone.)"""
    if len(members) > WHOLE_CHECK_UP_TO:
        return [members[i : i + 1] for i in range(len(members))]
    block = vectors[members]
    similarity = block @ block.T
    apart = prints.take(members).apart_matrix()
    linked = (similarity >= threshold - 1e-6) & ~apart
    floor = threshold - slack - 1e-6
    left = np.ones(len(members), dtype=bool)
    result = []
    while left.any():
        counts = np.where(left, (linked & left[None, :]).sum(axis=1), -1)
        seed = int(np.argmax(counts))
        group = [seed]
        left[seed] = False
        for candidate in np.argsort(-similarity[seed]):
            fits = similarity[candidate, group].min() >= floor and not apart[candidate, group].any()
            if left[candidate] and linked[seed, candidate] and fits:
                group.append(int(candidate))
                left[candidate] = False
        result.append(members[np.array(group)])
    return result
