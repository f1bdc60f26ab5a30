"""The build runner: scan → plan → decode → encode → write, wired together and nothing more.

Each stage is a module of its own (scan.py, plan.py, decode.py, encode.py, write.py). An unchanged
re-run stops after the plan: it imports neither torch nor faiss and opens no image.
"""

from __future__ import annotations

import gc
import os
import shutil
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from search.errors import IndexStoreError, StoreProblem
from search.images.formats import image_suffixes
from search.paths import default_index_dir
from search.store.catalog import Catalog
from search.store.health import check_writable, database_holds_no_images, index_folder_error
from search.store.layout import DATABASE_FILE
from search.store.lock import LOCK_FILE, writer_lock
from search.store.thumbnails import prune_thumbnails

from .engines import DEFAULT_BATCH_SIZE
from .model_choice import ModelChoice, choose_model, load_chosen, record_chosen
from .plan import Plan, make_plan
from .scan import ScanResult, scan_folder
from .stages import WRITE, StageTimes

if TYPE_CHECKING:
    from search.clip.encoder import RuClip
    from search.store import IndexStore

    from .engines import Engine
    from .write import IndexWriter

COMMIT_EVERY_N_IMAGES = 1024  # FAISS checkpoint cadence; SQLite commits every batch regardless


@dataclass
class BuildOptions:
    index_dir: Path = field(default_factory=default_index_dir)
    model: str | None = None  # None: the model the index was built with, else the default model
    device: str = "auto"
    precision: str = "auto"
    batch_size: int | None = None  # None: DEFAULT_BATCH_SIZE, or on a GPU from its free memory
    workers: int = max(1, (os.cpu_count() or 1))
    fast_jpeg: bool = True
    timeout_s: float = 60.0
    checkpoint_every: int = COMMIT_EVERY_N_IMAGES
    allow_mass_deletion: bool = False
    progress: bool = True
    progress_min_files: int = 1  # fewer files to encode than this: no progress bar (the watcher's small rounds)
    # Set by a caller that builds again and again in one process (indexer/watch.py): the network
    # stays loaded between builds instead of being loaded for each.
    model_cache: ModelCache | None = None
    # Asked after each encoded batch, before it is written: True stops the build there, cleanly (the
    # batches written so far are kept and checkpointed; the rest waits for the next run).
    stop_requested: Callable[[], bool] | None = None
    # Decode and encode on a Ray cluster (indexer/engines/cluster.py): "local" starts one on this
    # machine, "auto" or "ray://host:10001" joins a running one; None: this machine's worker processes.
    ray: str | None = None


@dataclass
class ModelCache:
    """The network a previous build of this process loaded, and what it was loaded as."""

    key: tuple[str, str, str, str] | None = None  # (weights fingerprint, model folder, device, precision)
    model: RuClip | None = None


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
    reused: int = 0  # of those indexed, identical to a photo already indexed: not encoded again
    failed: Counter[str] = field(default_factory=Counter)
    deletion_refused: str | None = None
    stopped: bool = False  # stop_requested ended it before every file was encoded
    unreadable_folders: list[str] = field(default_factory=list)
    skipped: str | None = None  # the scan's "skipped N files that are not images: ..." line
    seconds: float = 0.0
    total_indexed: int = 0
    stages: StageTimes = field(default_factory=StageTimes)

    def add_scan_and_plan(self, scan: ScanResult, plan: Plan) -> None:
        self.scanned, self.unreadable_folders = len(scan.files), scan.unreadable_folders
        self.skipped = scan.skipped_line()
        self.unchanged, self.new, self.changed = plan.unchanged, len(plan.new), len(plan.changed)
        self.renamed = len(plan.renamed)
        self.deleted = 0 if plan.deletion_refused else len(plan.vanished)
        self.deletion_refused = plan.deletion_refused

    def lines(self) -> list[str]:
        rate = self.indexed / self.seconds if self.seconds and self.indexed else 0.0
        out = [
            f"scanned {self.scanned} files in {self.root}",
            *([f"  {self.skipped}"] if self.skipped else []),
            f"  unchanged {self.unchanged}, new {self.new}, changed {self.changed}, "
            f"renamed {self.renamed}, deleted {self.deleted}",
            f"  indexed {self.indexed} ({rate:.1f} images/s), failed {sum(self.failed.values())}",
        ]
        if self.reused:
            out.append(
                f"    {self.reused} of them identical to photos already indexed: kept as copies, not encoded again"
            )
        out += [f"    {count} × {reason}" for reason, count in self.failed.most_common()]
        if self.deletion_refused:
            out.append(f"  deletions refused: {self.deletion_refused} (use --allow-mass-deletion if it is real)")
        out += [f"  could not read folder {folder}" for folder in self.unreadable_folders]
        if (rates := self.stages.line()) is not None:
            out.append(f"  {rates}")
        out.append(f"  {self.total_indexed} images searchable; took {self.seconds:.1f} s")
        return out


@contextmanager
def _no_cyclic_collection() -> Iterator[None]:
    """Scan and plan make a few small objects per file and free none of them: Python's cyclic
    collector would walk the growing heap again and again for nothing (a quarter of an unchanged
    run's time at 100 000 photos; see BENCHMARKS.md). Nothing in them makes reference cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _scan(root: Path, index_dir: Path) -> ScanResult:
    # Every format Pillow and rawpy can open (search/images/formats.py states the rule), cached: no Pillow import.
    return scan_folder(root, image_suffixes(), skip=[index_dir])


def _open_store(index_dir: Path) -> IndexStore:
    from search.store.index_store import IndexStore  # SQLAlchemy and numpy: only when something is written

    return IndexStore(index_dir, create=True)


def _write_changes(
    store: IndexStore,
    index_dir: Path,
    root: Path,
    plan: Plan,
    choice: ModelChoice,
    options: BuildOptions,
    summary: BuildSummary,
) -> None:
    """Renames and deletions, then decode → encode → write, then the last FAISS checkpoint."""
    root_id = store.add_root(root)
    store.move_and_delete(plan.renamed, [] if plan.deletion_refused else plan.vanished)
    with ExitStack() as held:
        engine = held.enter_context(_engine(store, choice, options)) if plan.to_decode else None
        recorded = store.model_record()
        if recorded is not None:  # None: a first build of a folder without images, nothing to store
            writer, summary.stopped = _decode_encode_write(
                store, index_dir, root_id, plan, engine, recorded.embed_dim, options, summary.stages
            )
            summary.indexed, summary.failed, summary.reused = writer.indexed, writer.failed, writer.reused
            summary.total_indexed = writer.vectors.ntotal
    if not summary.stopped:  # a stopped build did not finish: the page keeps saying when one last did
        store.record_build_finished()


@contextmanager
def _engine(store: IndexStore, choice: ModelChoice, options: BuildOptions) -> Iterator[Engine]:
    """Where decoding and encoding run: a Ray cluster (options.ray), else this machine."""
    if options.ray is not None:
        from .engines.cluster import RayEngine

        with RayEngine.started(options.ray, choice, options) as engine:
            record_chosen(store, choice, engine.embed_dim)
            yield engine
        return
    model = _model(store, choice, options)
    if _gpu_decoding(model):
        from .engines.gpu import GpuEngine

        workers, batch = options.workers, options.batch_size
        yield GpuEngine(model, workers, batch, fast_jpeg=options.fast_jpeg, timeout_s=options.timeout_s)
        return
    from .engines.local import LocalEngine

    batch = options.batch_size or DEFAULT_BATCH_SIZE
    yield LocalEngine(model, options.workers, batch, options.fast_jpeg, options.timeout_s)


def _gpu_decoding(model: RuClip) -> bool:
    """JPEGs are decoded on the GPU (nvJPEG) when the model runs on CUDA and torchvision loads (the
    [gpu] extra); torch is already imported by then, so asking costs nothing on a CPU build."""
    if model.device.type != "cuda":
        return False
    from search.images.device import gpu_decoding_available

    return gpu_decoding_available(model.device)


def _model(store: IndexStore, choice: ModelChoice, options: BuildOptions) -> RuClip:
    """The chosen network: loaded now, or the one options.model_cache holds when it is the same."""
    cache = options.model_cache
    key = (choice.fingerprint, str(choice.folder), options.device, options.precision)
    loaded = cache.model if cache is not None and cache.key == key else None
    model = load_chosen(store, choice, options.device, options.precision, loaded=loaded)
    if cache is not None:
        cache.key, cache.model = key, model
    return model


def _decode_encode_write(
    store: IndexStore,
    index_dir: Path,
    root_id: int,
    plan: Plan,
    engine: Engine | None,
    dim: int,
    options: BuildOptions,
    stages: StageTimes,
) -> tuple[IndexWriter, bool]:
    """The engine decodes and encodes, the writer commits each batch; then the last FAISS checkpoint.
    `engine` is None when there is nothing to decode (only renames or deletions to write out).
    Returns the writer and whether options.stop_requested stopped it early."""
    from tqdm import tqdm

    from .write import IndexWriter

    work = plan.to_decode
    stopped = False
    shown = options.progress and len(work) >= max(1, options.progress_min_files)
    bar = tqdm(total=len(work), desc="indexing", unit="img", disable=not shown, smoothing=0.1)
    writer = IndexWriter(
        store,
        index_dir,
        root_id,
        dim,
        checkpoint_every=options.checkpoint_every,
        on_batch=bar.update,
    )
    if work and engine is not None:
        batches = engine.row_batches(work, store.vectors_by_hash, stages)
        try:
            for rows in batches:
                # Asked before the batch is written, not after: a Ctrl-C in a terminal also reaches the
                # decoding workers, and the files they die on must not be recorded as failed.
                if options.stop_requested is not None and options.stop_requested():
                    stopped = True
                    break
                started = time.perf_counter()
                writer.write(rows)
                stages[WRITE].add(len(rows), time.perf_counter() - started)
        finally:
            batches.close()  # a stopped build's decoders and encoders are let go now, not at garbage collection
    bar.close()
    writer.finish()
    return writer, stopped


def build_index(photos: Path, options: BuildOptions) -> BuildSummary:
    """Index the images under `photos` into options.index_dir; returns what was done.

    A first build that fails before it commits a single image row (no model, offline, Ctrl-C while
    the model loads) removes what it created, so that no half-made index folder is left behind."""
    started = time.monotonic()
    root = Path(os.path.abspath(photos))
    if not root.is_dir():
        raise IndexStoreError(
            f"Photo folder {root} does not exist or is not a folder (an unmounted disk?). Nothing was changed.",
            StoreProblem.NO_PHOTO_FOLDER,
        )
    _check_photo_folder_readable(root)
    index_dir = Path(options.index_dir).resolve()
    summary = BuildSummary(root)
    folders_made = _missing_folders(index_dir)
    lock_was_there = (index_dir / LOCK_FILE).exists()
    with ExitStack() as held:
        try:
            held.enter_context(writer_lock(index_dir))  # makes the folder and its lock file
        except OSError as exc:  # a file where the folder should be, no permission, a read-only disk
            raise index_folder_error(index_dir, exc) from None
        # Looked at under the lock: no other build is half-way through creating the index.
        before = None if (index_dir / DATABASE_FILE).exists() else _entries(index_dir, lock_was_there)
        check_writable(index_dir)  # a read-only index.sqlite is said now, not at the first batch
        try:
            _build_locked(root, index_dir, options, summary)
        except BaseException as exc:
            if before is not None:
                _let_go_of_connections(exc)
                _discard_unfinished_first_build(index_dir, before, folders_made)
            raise
        if summary.deleted or summary.changed:  # the page's thumbnails of photos gone or edited since
            prune_thumbnails(index_dir)
    summary.seconds = time.monotonic() - started
    return summary


def _check_photo_folder_readable(root: Path) -> None:
    """An unreadable photo folder is an error, not an empty collection (which would build an empty
    index, or, on a re-run, look as if every photo had been deleted)."""
    try:
        with os.scandir(root) as entries:
            next(entries, None)
    except OSError as exc:
        raise IndexStoreError(
            f"Photo folder {root} cannot be read ({exc.strerror or exc}). Nothing was changed. Check its "
            "permissions (the folder needs read and execute rights for you), or pick another PHOTOS folder.",
            StoreProblem.NO_PHOTO_FOLDER,
        ) from None


def _build_locked(root: Path, index_dir: Path, options: BuildOptions, summary: BuildSummary) -> None:
    # The quick path first: a catalog read through sqlite3 alone tells an unchanged run apart
    # without importing SQLAlchemy, numpy, torch or faiss. A new, older or damaged database is
    # opened by IndexStore instead (it creates, upgrades or explains).
    catalog = Catalog.open(index_dir)
    store = None if catalog is not None else _open_store(index_dir)
    try:
        facts = catalog if catalog is not None else store
        # Checked against the index (and this folder) before anything is written.
        choice = choose_model(facts, options.model, root, index_dir)
        with _no_cyclic_collection():
            scan = _scan(root, index_dir)
            root_id = facts.known_root_id(root)
            known = facts.known_rows(root_id) if root_id is not None else {}
            plan = make_plan(scan.files, known, allow_mass_deletion=options.allow_mass_deletion)
        summary.add_scan_and_plan(scan, plan)
        if catalog is not None and not plan.changes_anything and catalog.vector_file_is_current():
            summary.total_indexed = catalog.count_indexed()
            catalog.record_build_finished()
        else:
            store = store or _open_store(index_dir)
            _write_changes(store, index_dir, root, plan, choice, options, summary)
    finally:
        for opened in (catalog, store):
            if opened is not None:
                opened.close()


def _missing_folders(folder: Path) -> list[Path]:
    """`folder` and those of its parents that do not exist yet, deepest first (what mkdir -p makes)."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _entries(folder: Path, lock_was_there: bool) -> set[str]:
    """The names in the index folder that this run did not create (the lock file, if it just made it)."""
    names = set(os.listdir(folder))
    if not lock_was_there:
        names.discard(LOCK_FILE)
    return names


def _let_go_of_connections(exc: BaseException) -> None:
    """A Ctrl-C inside the opening of index.sqlite (say, while its connection is set up) leaves that
    connection alive in the traceback's frames, holding its lock on the new file, so the check below
    could not read it and the half-made folder stayed. The frames' variables are dropped and the
    connection collected (the message the user sees needs neither)."""
    traceback.clear_frames(exc.__traceback__)
    gc.collect()


def _discard_unfinished_first_build(index_dir: Path, before: set[str], folders_made: list[Path]) -> None:
    """Remove what a failed first build created, unless it committed an image row (then a re-run resumes
    from it). Only names that were not there before are removed, and only folders it made, once empty:
    a folder the user made stays, with whatever else they keep in it."""
    try:
        if not database_holds_no_images(index_dir):
            return
        for name in set(os.listdir(index_dir)) - before:
            path = index_dir / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        for folder in folders_made:
            folder.rmdir()  # deepest first; one that is not empty stops the climb
    except OSError:
        pass  # what could not be removed stays: the error being raised is the one the user must see
