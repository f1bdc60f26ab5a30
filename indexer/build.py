"""The build runner: wires scan → plan → decode (worker processes) → encode → store.

Every encoded batch is committed to SQLite at once (the source of truth, vectors included); every
COMMIT_EVERY_N_IMAGES images and at the end the FAISS cache is brought up to date and replaced
atomically. A kill at any moment loses at most the batch in flight.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker
from tqdm import tqdm

from search.checkpoint import file_fingerprint, find_weights
from search.encoder import RuClip, load_model
from search.errors import IndexStoreError, ModelNotFoundError
from search.hub import requested_model, resolve_model
from search.preprocess import register_optional_formats
from search.store import (
    FAILED,
    INDEXED,
    LAST_BUILD_KEY,
    ImageRow,
    Removed,
    current_seq,
    get_meta,
    next_seq,
    open_database,
    root_row,
    set_meta,
)
from search.vectors import (
    FAISS_FILE_KEY,
    FAISS_SEQ_KEY,
    catch_up,
    kind_of,
    load_vectors,
    remove_stale_files,
    reshape_if_needed,
    save_vectors,
)

from .decode import Decoded, DecodePool, Failed
from .plan import Plan, known_rows, make_plan
from .scan import BASE_SUFFIXES, FoundFile, scan_folder

log = logging.getLogger(__name__)

DEFAULT_INDEX_DIR = Path("data/index")
COMMIT_EVERY_N_IMAGES = 1024  # FAISS checkpoint cadence; SQLite commits every batch regardless
LOCK_FILE = ".build.lock"


@dataclass
class BuildOptions:
    index_dir: Path = DEFAULT_INDEX_DIR
    model: str | None = None  # None: the model the index was built with, else the default model
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 32
    workers: int = max(1, (os.cpu_count() or 1))
    fast_jpeg: bool = True
    timeout_s: float = 60.0
    checkpoint_every: int = COMMIT_EVERY_N_IMAGES
    allow_mass_deletion: bool = False
    progress: bool = True


@dataclass
class BuildSummary:
    root: Path
    scanned: int = 0
    unchanged: int = 0
    new: int = 0
    changed: int = 0
    renamed: int = 0
    deleted: int = 0
    indexed: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    deletion_refused: str | None = None
    unreadable_folders: list[str] = field(default_factory=list)
    seconds: float = 0.0
    total_indexed: int = 0

    def lines(self) -> list[str]:
        rate = self.indexed / self.seconds if self.seconds and self.indexed else 0.0
        out = [
            f"scanned {self.scanned} files in {self.root}",
            f"  unchanged {self.unchanged}, new {self.new}, changed {self.changed}, "
            f"renamed {self.renamed}, deleted {self.deleted}",
            f"  indexed {self.indexed} ({rate:.1f} images/s), failed {sum(self.failed.values())}",
        ]
        out += [f"    {count} × {reason}" for reason, count in self.failed.most_common()]
        if self.deletion_refused:
            out.append(f"  deletions refused: {self.deletion_refused} (use --allow-mass-deletion if it is real)")
        out += [f"  could not read folder {folder}" for folder in self.unreadable_folders]
        out.append(f"  {self.total_indexed} images searchable; took {self.seconds:.1f} s")
        return out


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """One build per index at a time (a second would interleave checkpoints)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    handle = open(index_dir / LOCK_FILE, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise IndexStoreError(f"Another build is running on {index_dir}; wait for it to finish.") from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


class ModelForIndex:
    """The model an index uses, checked against what built it before anything is written, and
    loaded only when there is something to encode (an unchanged re-run never pays for it)."""

    def __init__(self, factory: sessionmaker[Session], requested: str | None, device: str, precision: str):
        with factory() as session:
            recorded_name = get_meta(session, "model_name")
            recorded_fingerprint = get_meta(session, "model_fingerprint")
            weights_stat = get_meta(session, "model_weights_stat")
        self.name = requested or recorded_name or requested_model(None)
        folder = resolve_model(self.name)
        weights = find_weights(folder)
        if weights is None:
            raise ModelNotFoundError(f"Model folder {folder} holds no weights file.")
        stat = weights.stat()
        # Hashing 600 MB takes a second or two; skip it while the file is the one hashed last time.
        stat_key = f"{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        self.fingerprint = (
            recorded_fingerprint if weights_stat == stat_key and recorded_fingerprint else file_fingerprint(weights)
        )
        if recorded_fingerprint and self.fingerprint != recorded_fingerprint:
            raise IndexStoreError(
                f"This index was built with model {recorded_name!r}; {self.name!r} has other weights. "
                f"Build with --model {recorded_name} (or leave --model out), or use a new --index folder."
            )
        self._factory, self._device, self._precision = factory, device, precision
        self._stat_key, self._first_build = stat_key, recorded_fingerprint is None
        self._model: RuClip | None = None

    @property
    def model(self) -> RuClip:
        if self._model is None:
            self._model = load_model(self.name, device=self._device, precision=self._precision)
            with self._factory.begin() as session:
                set_meta(session, "model_weights_stat", self._stat_key)
                if self._first_build:
                    set_meta(session, "model_name", self.name)
                    set_meta(session, "model_fingerprint", self.fingerprint)
                    set_meta(session, "embed_dim", str(self._model.embed_dim))
        return self._model


def _apply_renames_and_deletions(session: Session, plan: Plan, summary: BuildSummary) -> None:
    for found, row_id in plan.renamed:
        session.execute(
            update(ImageRow)
            .where(ImageRow.id == row_id)
            .values(path=os.fsencode(found.path), size=found.size, mtime_ns=found.mtime_ns, seq=next_seq(session))
        )
    summary.renamed = len(plan.renamed)
    if plan.vanished and not plan.deletion_refused:
        seq = next_seq(session)
        for start in range(0, len(plan.vanished), 500):
            chunk = plan.vanished[start : start + 500]
            session.execute(delete(ImageRow).where(ImageRow.id.in_(chunk)))
            session.add_all(Removed(id=row_id, seq=seq) for row_id in chunk)  # ids are never reused
        summary.deleted = len(plan.vanished)


def _write_results(
    session: Session,
    root_id: int,
    results: list[Decoded | Failed],
    vectors: np.ndarray | None,
    files: dict[str, FoundFile],
) -> None:
    """Upsert one row per result (decoded with its vector, or failed with its reason)."""
    seq = next_seq(session)
    decoded = [r for r in results if isinstance(r, Decoded)]
    vector_of = {r.path: vectors[i] for i, r in enumerate(decoded)} if vectors is not None else {}
    paths = [os.fsencode(r.path) for r in results]
    existing = {row.path: row for row in session.scalars(select(ImageRow).where(ImageRow.path.in_(paths)))}
    for result, key in zip(results, paths, strict=True):
        found = files[result.path]
        row = existing.get(key) or ImageRow(path=key, root_id=root_id)
        row.size, row.mtime_ns, row.seq = found.size, found.mtime_ns, seq
        if isinstance(result, Decoded):
            row.state, row.reason, row.detail = INDEXED, None, None
            row.width, row.height, row.taken_at, row.camera = (
                result.width,
                result.height,
                result.taken_at,
                result.camera,
            )
            row.content_hash = result.content_hash
            row.vector = np.ascontiguousarray(vector_of[result.path], dtype=np.float32).tobytes()
        else:
            row.state, row.reason, row.detail, row.vector = FAILED, result.reason, result.detail, None
        if key not in existing:
            session.add(row)


def _decoded_in_background(pool: DecodePool, paths: list[str], depth: int) -> Iterator[Decoded | Failed]:
    """Run the decode pool in a thread so that workers keep decoding while the model encodes."""
    results: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    failure: list[BaseException] = []

    def feed() -> None:
        try:
            for result in pool.imap(paths):
                results.put(result)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            failure.append(exc)
        finally:
            results.put(done)

    thread = threading.Thread(target=feed, name="decode-feeder", daemon=True)
    thread.start()
    while (item := results.get()) is not done:
        yield item
    thread.join()
    if failure:
        raise failure[0]


def build_index(photos: Path, options: BuildOptions) -> BuildSummary:
    """Index the images under `photos` into options.index_dir; returns what was done."""
    started = time.monotonic()
    root = Path(os.path.abspath(photos))
    if not root.is_dir():
        raise IndexStoreError(
            f"Photo folder {root} does not exist or is not a folder (an unmounted disk?). Nothing was changed."
        )
    index_dir = Path(options.index_dir).resolve()
    summary = BuildSummary(root)
    with build_lock(index_dir):
        factory = open_database(index_dir, create=True)
        chosen = ModelForIndex(factory, options.model, options.device, options.precision)
        suffixes = BASE_SUFFIXES | register_optional_formats()
        scan = scan_folder(root, suffixes, skip=[index_dir])
        summary.scanned, summary.unreadable_folders = len(scan.files), scan.unreadable_folders

        with factory.begin() as session:
            root_id = root_row(session, root).id
            plan = make_plan(scan.files, known_rows(session, root_id), allow_mass_deletion=options.allow_mass_deletion)
            _apply_renames_and_deletions(session, plan, summary)
        summary.unchanged, summary.new, summary.changed = plan.unchanged, len(plan.new), len(plan.changed)
        summary.deletion_refused = plan.deletion_refused

        work = plan.to_decode
        if work:
            chosen.model  # noqa: B018 - loads it now (and records it on a first build), not mid-progress-bar
        with factory() as session:
            dim = int(get_meta(session, "embed_dim") or 0)
            if not dim:  # a first build of an empty folder: nothing to store yet
                summary.seconds = time.monotonic() - started
                return summary
            vectors = load_vectors(index_dir, session, dim)
            recorded_seq = int(get_meta(session, FAISS_SEQ_KEY) or -1)
        files = {f.path: f for f in work}
        since_checkpoint = 0

        def checkpoint() -> None:
            nonlocal vectors, since_checkpoint
            with factory.begin() as session:
                vectors = reshape_if_needed(session, catch_up(session, vectors, dim), dim)
                name = save_vectors(index_dir, session, vectors)
                set_meta(session, "index_type", kind_of(vectors.index))
            remove_stale_files(index_dir, keep=name)
            since_checkpoint = 0

        bar = tqdm(
            total=len(work), desc="indexing", unit="img", disable=not options.progress or not work, smoothing=0.1
        )
        pending: list[Decoded | Failed] = []

        def flush() -> None:
            nonlocal since_checkpoint
            decoded = [r for r in pending if isinstance(r, Decoded)]
            embeddings = chosen.model.encode_squares(np.stack([r.pixels for r in decoded])) if decoded else None
            with factory.begin() as session:
                _write_results(session, root_id, pending, embeddings, files)
            summary.indexed += len(decoded)
            for r in pending:
                if isinstance(r, Failed):
                    summary.failed[r.reason] += 1
            bar.update(len(pending))
            since_checkpoint += len(pending)
            pending.clear()
            if since_checkpoint >= options.checkpoint_every:
                checkpoint()

        if work:
            resolution = chosen.model.config.image_resolution
            pool = DecodePool(resolution, options.workers, fast_jpeg=options.fast_jpeg, timeout_s=options.timeout_s)
            with pool:
                for result in _decoded_in_background(pool, [f.path for f in work], depth=4 * options.batch_size):
                    pending.append(result)
                    if len(pending) >= options.batch_size:
                        flush()
                if pending:
                    flush()
        bar.close()
        with factory() as session:
            changed_since_file = current_seq(session) != recorded_seq or get_meta(session, FAISS_FILE_KEY) is None
        if changed_since_file or since_checkpoint:
            checkpoint()
        with factory.begin() as session:
            set_meta(session, LAST_BUILD_KEY, datetime.now(UTC).isoformat(timespec="seconds"))
        summary.total_indexed = vectors.ntotal
    summary.seconds = time.monotonic() - started
    return summary
