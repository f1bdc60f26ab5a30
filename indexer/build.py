"""The build runner: scan → plan → engine (decode + encode) → write, wired together and nothing more.

Each stage is a module of its own (scan.py, plan.py, the engines in engines/, write.py); the runner
calls them in order and times the ones it runs itself into the summary's StageTimes (the engine
times its own). An unchanged re-run stops after the plan: it imports neither torch nor faiss and
opens no image. The engine is built from an EngineSpec (options.engine), never from the options.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from search.constants import DECODE_TIMEOUT_S, DEVICES, OCR_MODES, PRECISIONS
from search.i18n import _
from search.images.formats import image_suffixes
from search.paths import default_index_dir
from search.store.catalog import Catalog
from search.store.health import check_writable, index_folder_error
from search.store.lock import writer_lock
from search.store.reads import IndexReads
from search.store.thumbnails import prune_thumbnails

from .engines import EngineSpec, default_workers, started_engine
from .errors import BadOptionError
from .first_build import FirstBuildUndo
from .label import label_photos, labels_key_of
from .model_choice import ModelCache, ModelChoice, choose_model, load_chosen, record_chosen
from .ocr import read_texts, texts_are_wanted, texts_key
from .plan import Plan, make_plan
from .prints import fill_prints
from .scan import PhotoFilter, ScanResult, check_photo_folder, scan_photos
from .stages import PLAN, SCAN, WRITE, StageTimes
from .summary import BuildSummary

if TYPE_CHECKING:
    from search.store import IndexStore

    from .engines import Engine
    from .write import IndexWriter

# The FAISS file is checkpointed once at least this many images were written since the last
# checkpoint AND at least CHECKPOINT_WAIT_FACTOR (9) times as long as that checkpoint took has passed
# (indexer/write.py): a checkpoint rewrites the whole file, so on a large collection the second
# condition spaces them out. SQLite commits every batch regardless; readers replay what the file lacks.
FAISS_CHECKPOINT_MIN_IMAGES = 1024


@dataclass(frozen=True)
class BuildOptions:
    """What a build is asked to do: which index, which model, how to decode and encode. Validated
    when made (BadOptionError names the field); a caller that wants another uses dataclasses.replace."""

    index_dir: Path = field(default_factory=default_index_dir)
    model: str | None = None  # None: the model the index was built with, else the default model
    device: str = "auto"
    precision: str = "auto"
    batch_size: int | None = None  # None: DEFAULT_BATCH_SIZE, or on a GPU from its free memory
    workers: int = field(default_factory=default_workers)  # decoding processes on this machine
    fast_jpeg: bool = True
    timeout_s: float = DECODE_TIMEOUT_S  # seconds one file may take to decode
    checkpoint_min_images: int = FAISS_CHECKPOINT_MIN_IMAGES  # see FAISS_CHECKPOINT_MIN_IMAGES
    allow_mass_deletion: bool = False
    progress: bool = True
    # Decode and encode on a Ray cluster (indexer/engines/cluster.py): "local" starts one on this
    # machine, "auto" or "ray://host:10001" joins a running one; None: this machine's worker processes.
    ray: str | None = None
    # Which photos' text is read (indexer/ocr.py): "auto" those likely to hold text, "all", "off".
    ocr: str = "auto"

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise BadOptionError(
                _("device must be one of {join}, not {device!r}.").format(join=", ".join(DEVICES), device=self.device)
            )
        if self.precision not in PRECISIONS:
            raise BadOptionError(
                _("precision must be one of {join}, not {precision!r}.").format(
                    join=", ".join(PRECISIONS), precision=self.precision
                )
            )
        if self.ocr not in OCR_MODES:
            raise BadOptionError(
                _("ocr must be one of {join}, not {ocr!r}.").format(join=", ".join(OCR_MODES), ocr=self.ocr)
            )
        for name in ("workers", "checkpoint_min_images") + (("batch_size",) if self.batch_size is not None else ()):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BadOptionError(
                    _("{name} must be a whole number of at least 1, not {value!r}.").format(name=name, value=value)
                )
        if not self.timeout_s > 0:
            raise BadOptionError(
                _("timeout_s must be a number of seconds above 0, not {timeout_s!r}.").format(timeout_s=self.timeout_s)
            )
        if self.ray is not None and not self.ray.strip():
            raise BadOptionError(_("ray must name a cluster ('local', 'auto', 'ray://host:10001') or be None."))

    @property
    def engine(self) -> EngineSpec:
        """Where and how this build decodes and encodes: what its engine is built from."""
        return EngineSpec(
            device=self.device,
            precision=self.precision,
            workers=self.workers,
            batch_size=self.batch_size,
            fast_jpeg=self.fast_jpeg,
            timeout_s=self.timeout_s,
            ray_address=self.ray,
        )


@dataclass(frozen=True)
class BuildHooks:
    """What a caller that builds again and again in one process (indexer/watch.py) gives each build,
    beside its options."""

    # The network stays loaded between builds instead of being loaded for each.
    model_cache: ModelCache | None = None
    # Asked after each encoded batch, before it is written: True stops the build there, cleanly (the
    # batches written so far are kept and checkpointed; the rest waits for the next run).
    stop_requested: Callable[[], bool] | None = None
    progress_min_files: int = 1  # fewer files to encode than this: no progress bar (the watcher's small rounds)


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


def build_index(photos: Path, options: BuildOptions, hooks: BuildHooks | None = None) -> BuildSummary:
    """Index the images under `photos` into options.index_dir; returns what was done.

    A first build that fails before it commits a single image row (no model, offline, Ctrl-C while
    the model loads) removes what it created, so that no half-made index folder is left behind.
    Raises PhotoFolderError (indexer.errors) when `photos` is missing or unreadable."""
    started = time.monotonic()
    hooks = hooks or BuildHooks()
    root = Path(os.path.abspath(photos))
    check_photo_folder(root)
    index_dir = Path(options.index_dir).resolve()
    summary = BuildSummary(root)
    first_build = FirstBuildUndo(index_dir)
    with ExitStack() as held:
        try:
            held.enter_context(writer_lock(index_dir))  # makes the folder and its lock file
        except OSError as exc:  # a file where the folder should be, no permission, a read-only disk
            raise index_folder_error(index_dir, exc) from None
        first_build.looked_under_lock()
        check_writable(index_dir)  # a read-only index.sqlite is said now, not at the first batch
        try:
            _build_locked(root, index_dir, options, hooks, summary)
        except BaseException as exc:
            first_build.undo(exc)
            raise
        if summary.deleted or summary.changed:  # the page's thumbnails of photos gone or edited since
            prune_thumbnails(index_dir)
    summary.seconds = time.monotonic() - started
    return summary


def photo_filter(root: Path, index_dir: Path) -> PhotoFilter:
    """Which files under `root` a build indexes: every format Pillow and rawpy can open (search/images/formats.py
    states the rule; cached, so no Pillow import), hidden paths and the index's own folder skipped.
    The watcher judges its events by the same filter."""
    return PhotoFilter.of(root, image_suffixes(), skip=[index_dir])


def _build_locked(root: Path, index_dir: Path, options: BuildOptions, hooks: BuildHooks, summary: BuildSummary) -> None:
    # The quick path first: a catalog read through sqlite3 alone tells an unchanged run apart
    # without importing SQLAlchemy, numpy, torch or faiss. A new, older or damaged database is
    # opened by IndexStore instead (it creates, upgrades or explains).
    catalog = Catalog.open(index_dir)
    store = None if catalog is not None else _open_store(index_dir)
    # One loaded network for the engine and the label stage (the vocabulary's text vectors).
    hooks = hooks if hooks.model_cache is not None else replace(hooks, model_cache=ModelCache())
    try:
        reads: IndexReads = catalog if catalog is not None else store
        # Checked against the index (and this folder) before anything is written.
        choice = choose_model(reads, options.model, root, index_dir)
        scan, plan = _scan_and_plan(reads, root, index_dir, options, summary.stages)
        summary.add_scan_and_plan(scan, plan)
        unchanged = not plan.changes_anything and catalog is not None and catalog.vector_file_is_current()
        texts_current = not texts_are_wanted(options.ocr) or (
            catalog is not None and catalog.texts_are_current(texts_key(options.ocr))
        )
        if unchanged and texts_current and catalog.labels_are_current(labels_key_of(choice)):
            summary.total_indexed = catalog.count_indexed()
            catalog.record_build_finished()
        else:
            store = store or _open_store(index_dir)
            _write_changes(store, index_dir, root, plan, choice, options, hooks, summary)
            if not summary.stopped and store.model_record() is not None:
                load = partial(load_chosen, choice, options.device, options.precision, hooks.model_cache)
                summary.labelled, summary.tags_renewed = label_photos(store, choice, load, summary.stages)
                summary.texts = read_texts(
                    store,
                    options.ocr,
                    options.workers,
                    summary.stages,
                    progress=options.progress,
                    progress_min_files=hooks.progress_min_files,
                    stop_requested=hooks.stop_requested,
                )
    finally:
        for opened in (catalog, store):
            if opened is not None:
                opened.close()


def _scan_and_plan(
    reads: IndexReads, root: Path, index_dir: Path, options: BuildOptions, stages: StageTimes
) -> tuple[ScanResult, Plan]:
    """The folder's files, and what to do with each against what the index knows."""
    with _no_cyclic_collection():
        with stages.timed(SCAN) as scanned:
            scan = scan_photos(photo_filter(root, index_dir))
            scanned.items = len(scan.files)
        with stages.timed(PLAN) as planned:
            root_id = reads.known_root_id(root)
            known = reads.known_rows(root_id) if root_id is not None else {}
            plan = make_plan(scan.files, known, allow_mass_deletion=options.allow_mass_deletion)
            planned.items = len(scan.files)
    return scan, plan


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
    hooks: BuildHooks,
    summary: BuildSummary,
) -> None:
    """Renames and deletions, then engine → write, then the last FAISS checkpoint."""
    root_id = store.add_root(root)
    store.move_and_delete(plan.renamed, [] if plan.deletion_refused else plan.vanished)
    if plan.unprinted:  # before the engine starts: these decodes need no model
        shown = options.progress and len(plan.unprinted) >= max(1, hooks.progress_min_files)
        summary.printed = fill_prints(store, plan.unprinted, options.workers, hooks.stop_requested, shown)
    with ExitStack() as held:
        engine = None
        if plan.to_decode:
            spec = options.engine
            load = partial(load_chosen, choice, spec.device, spec.precision, hooks.model_cache)
            engine = held.enter_context(started_engine(spec, choice, load))
            record_chosen(store, choice, engine.embed_dim)
        recorded = store.model_record()
        if recorded is not None:  # None: a first build of a folder without images, nothing to store
            writer, summary.stopped = _engine_to_writer(
                store, index_dir, root_id, plan, engine, recorded.embed_dim, options, hooks, summary.stages
            )
            summary.indexed, summary.failed, summary.reused = writer.indexed, writer.failed, writer.reused
            summary.total_indexed = writer.vectors.ntotal
    if not summary.stopped:  # a stopped build did not finish: the page keeps saying when one last did
        store.record_build_finished()


def _engine_to_writer(
    store: IndexStore,
    index_dir: Path,
    root_id: int,
    plan: Plan,
    engine: Engine | None,
    dim: int,
    options: BuildOptions,
    hooks: BuildHooks,
    stages: StageTimes,
) -> tuple[IndexWriter, bool]:
    """The engine decodes and encodes, the writer commits each batch; then the last FAISS checkpoint.
    `engine` is None when there is nothing to decode (only renames or deletions to write out).
    Returns the writer and whether hooks.stop_requested stopped it early."""
    from tqdm import tqdm

    from .write import IndexWriter

    work = plan.to_decode
    stopped = False
    shown = options.progress and len(work) >= max(1, hooks.progress_min_files)
    bar = tqdm(total=len(work), desc=_("indexing"), unit="img", disable=not shown, smoothing=0.1)
    writer = IndexWriter(
        store, index_dir, root_id, dim, checkpoint_min_images=options.checkpoint_min_images, on_batch=bar.update
    )
    if work and engine is not None:
        batches = engine.row_batches(work, store.vectors_by_hash, stages)
        try:
            for rows in batches:
                # Asked before the batch is written, not after: a Ctrl-C in a terminal also reaches the
                # decoding workers, and the files they die on must not be recorded as failed.
                if hooks.stop_requested is not None and hooks.stop_requested():
                    stopped = True
                    break
                with stages.timed(WRITE) as written:
                    writer.write(rows)
                    written.items = len(rows)
        finally:
            batches.close()  # a stopped build's decoders and encoders are let go now, not at garbage collection
    bar.close()
    writer.finish()
    return writer, stopped
