"""Consistency of an index: FAISS holds exactly one vector per indexed row, equal to SQLite's."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
from sqlalchemy import func, select

from search.store import INDEXED, ImageRow, current_seq, get_meta, open_database
from search.vectors import FAISS_FILE_KEY, FAISS_SEQ_KEY, all_ids, is_exact, load_vectors

VECTOR_TOLERANCE = 1e-6  # exact indexes store the floats themselves
QUANTIZED_MIN_COSINE = 0.95  # IVF-SQ8 keeps 8-bit codes: a close copy (0.98+ at 32 dims), not another vector


def _same_vector(held: np.ndarray, stored: np.ndarray, exact: bool) -> bool:
    if exact:
        return float(np.abs(held - stored).max()) <= VECTOR_TOLERANCE
    return float(held @ stored) / max(float(np.linalg.norm(held)), 1e-12) >= QUANTIZED_MIN_COSINE


@dataclass
class VerifyReport:
    rows_indexed: int = 0
    vectors: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_index(folder: Path) -> VerifyReport:
    report = VerifyReport()
    factory = open_database(folder, create=False)
    with factory() as session:
        dim = int(get_meta(session, "embed_dim") or 0)
        name = get_meta(session, FAISS_FILE_KEY)
        if not dim or not name:
            report.problems.append("no finished build is recorded (run python -m indexer build)")
            return report
        if not (Path(folder) / name).is_file():
            report.problems.append(f"the recorded vector file {name} is missing (it is rebuilt from SQLite on open)")
        else:
            try:
                faiss.read_index(str(Path(folder) / name))
            except RuntimeError as exc:
                report.problems.append(f"the vector file {name} is unreadable: {exc}")
        behind = current_seq(session) - int(get_meta(session, FAISS_SEQ_KEY) or 0)
        if behind:
            report.notes.append(
                f"the vector file is {behind} change(s) behind SQLite (an interrupted build); replayed on open"
            )
        vectors = load_vectors(folder, session, dim)
        index = vectors.index
        exact = is_exact(index)
        report.vectors = vectors.ntotal
        report.rows_indexed = session.scalar(select(func.count()).where(ImageRow.state == INDEXED)) or 0
        faiss_ids = all_ids(index)
        unique_ids = set(faiss_ids.tolist())
        if len(unique_ids) != len(faiss_ids):
            report.problems.append(f"{len(faiss_ids) - len(unique_ids)} duplicate id(s) in the vector index")
        row_ids: set[int] = set()
        for row_id, blob, path in session.execute(
            select(ImageRow.id, ImageRow.vector, ImageRow.path).where(ImageRow.state == INDEXED)
        ):
            row_ids.add(row_id)
            if blob is None or len(blob) != 4 * dim:
                report.problems.append(f"row {row_id} ({path!r}) has no vector of dim {dim}")
                continue
            stored = np.frombuffer(blob, dtype=np.float32)
            if abs(float(np.linalg.norm(stored)) - 1) > 1e-3:
                report.problems.append(f"row {row_id} has a vector of norm {np.linalg.norm(stored):.4f}, not 1")
            if row_id not in unique_ids:
                report.problems.append(f"row {row_id} ({path!r}) is indexed but has no vector in FAISS")
            elif not _same_vector(index.reconstruct(row_id), stored, exact):
                report.problems.append(f"row {row_id}: FAISS and SQLite hold different vectors")
        orphans = unique_ids - row_ids
        if orphans:
            report.problems.append(f"{len(orphans)} vector(s) in FAISS without an indexed row: {sorted(orphans)[:10]}")
    return report
