"""Consistency of an index: SQLite's own integrity check, and FAISS holding exactly one vector per
indexed row, equal to SQLite's. `repair` rewrites the FAISS file from SQLite (the source of truth).
A missing FAISS file is expected (a restore, a deleted cache), and said as a note."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import IndexStoreError, StoreProblem
from ..i18n import _
from .health import damaged_message
from .index_store import IndexStore
from .lock import writer_lock
from .vectors import (
    VectorIndex,
    all_ids,
    build_from_sqlite,
    kind_to_rebuild,
    load_vectors,
    reshape_if_needed,
    save_vectors,
)

MAX_FINDINGS_SHOWN = 3  # SQLite reports one line per bad row of every index: the first few say enough
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
    problems: list[str] = field(default_factory=list)  # the index gives wrong answers until repaired
    notes: list[str] = field(default_factory=list)  # expected states (an interrupted build), nothing wrong
    repairs: list[str] = field(default_factory=list)  # what --repair did

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_vector_file(store: IndexStore, vectors: VectorIndex, report: VerifyReport) -> None:
    """What load_vectors found of the recorded FAISS file (it reads and checks it once)."""
    record = store.vector_file_record()
    if record is None:
        report.notes.append(_("no vector file has been written yet (the first build was interrupted); made on open"))
        return
    if vectors.cache_missing:
        # SQLite is the source of truth: a restored backup or a deleted cache is a normal state.
        report.notes.append(
            _(
                "the vector cache {name} is not there (a restored backup or a deleted cache); the next "
                "search or build makes it again from index.sqlite (`verify --repair` makes it now)"
            ).format(name=record.name)
        )
        return
    if vectors.untrusted is not None:
        report.problems.append(
            _(
                "the vector file {name} cannot be trusted ({untrusted}); searches rebuild it from SQLite "
                "on every open until `verify --repair` (or the next build) writes it again"
            ).format(name=record.name, untrusted=vectors.untrusted)
        )
    behind = store.change_counter() - record.seq
    if behind:
        report.notes.append(
            _("the vector file is {behind} change(s) behind SQLite (an interrupted build); replayed on open").format(
                behind=behind
            )
        )


def _compare_rows(store: IndexStore, vectors: VectorIndex, dim: int, report: VerifyReport) -> None:
    index = vectors.index
    exact = vectors.kind.exact
    faiss_ids = all_ids(index)
    unique_ids = set(faiss_ids.tolist())
    if len(unique_ids) != len(faiss_ids):
        report.problems.append(
            _("{value} duplicate id(s) in the vector index").format(value=len(faiss_ids) - len(unique_ids))
        )
    row_ids: set[int] = set()
    for row_id, blob, path in store.indexed_rows_with_vectors():
        row_ids.add(row_id)
        if blob is None or len(blob) != 4 * dim:
            report.problems.append(
                _("row {row_id} ({path}) has no vector of dim {dim}").format(row_id=row_id, path=path, dim=dim)
            )
            continue
        stored = np.frombuffer(blob, dtype=np.float32)
        if abs(float(np.linalg.norm(stored)) - 1) > 1e-3:
            report.problems.append(
                _("row {row_id} has a vector of norm {norm:.4f}, not 1").format(
                    row_id=row_id, norm=np.linalg.norm(stored)
                )
            )
        if row_id not in unique_ids:
            report.problems.append(
                _("row {row_id} ({path}) is indexed but has no vector in FAISS").format(row_id=row_id, path=path)
            )
        elif not _same_vector(index.reconstruct(row_id), stored, exact):
            report.problems.append(_("row {row_id}: FAISS and SQLite hold different vectors").format(row_id=row_id))
    report.rows_indexed = len(row_ids)
    orphans = unique_ids - row_ids
    if orphans:
        report.problems.append(
            _("{orphans} vector(s) in FAISS without an indexed row: {value}").format(
                orphans=len(orphans), value=sorted(orphans)[:10]
            )
        )


def _check_database(store: IndexStore) -> None:
    """SQLite's integrity check of every page; its first findings become the damage's cause."""
    lines = [line for problem in store.integrity_problems() for line in problem.splitlines()]
    findings = [line for line in lines if not line.startswith("*** in database")]  # a heading, not a finding
    if findings:
        cause = "; ".join(findings[:MAX_FINDINGS_SHOWN]) + ("; …" if len(findings) > MAX_FINDINGS_SHOWN else "")
        raise IndexStoreError(
            damaged_message(store.path, _("integrity check: {cause}").format(cause=cause)), StoreProblem.DAMAGED
        )


def verify_index(folder: Path, *, repair: bool = False) -> VerifyReport:
    """Check index.sqlite page by page, the FAISS file against its record, and every vector.

    A FAISS file that is not there (a restored backup, a deleted cache) is a note, not a problem: it
    is a cache, made again from SQLite by the next reader or build. With `repair`, an untrusted,
    stale or missing FAISS file is written again from SQLite. A damaged SQLite file cannot be
    repaired here (it is the source of truth): IndexStoreError DAMAGED, whose message says how to
    restore it, as every other command says when it reads a damaged page.
    """
    report = VerifyReport()
    store = IndexStore(folder)  # no index there: said before anything is created or locked
    try:
        # A build's rows committed after this check's snapshot of the FAISS cache would look missing,
        # and a repair must not replace the file a build is writing: one writer at a time.
        with writer_lock(Path(folder), doing="verify"):
            _verify(folder, store, repair, report)
    finally:
        store.close()
    return report


def _verify(folder: Path, store: IndexStore, repair: bool, report: VerifyReport) -> None:
    _check_database(store)
    model = store.model_record()
    if model is None:
        report.notes.append(_("no build has finished recording a model yet: nothing to check"))
        return
    dim = model.embed_dim
    vectors = load_vectors(folder, store, dim)
    _check_vector_file(store, vectors, report)
    _compare_rows(store, vectors, dim, report)
    report.vectors = vectors.ntotal
    if repair and (not report.ok or vectors.cache_missing):
        kind = kind_to_rebuild(store, report.rows_indexed)  # the builds' own rules
        rebuilt = reshape_if_needed(store, build_from_sqlite(store, dim, kind), dim)
        name = save_vectors(folder, store, rebuilt)
        report.repairs.append(
            _("wrote {name} from SQLite: {ntotal} vectors, {name2}").format(
                name=name, ntotal=rebuilt.ntotal, name2=rebuilt.kind.name
            )
        )
        again = VerifyReport()
        _verify(folder, store, False, again)
        report.problems, report.notes = again.problems, report.notes + again.notes
        report.vectors, report.rows_indexed = again.vectors, again.rows_indexed
