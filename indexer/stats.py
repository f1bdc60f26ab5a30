"""`python -m indexer stats`: the index's summary (search.store's, the one the page shows), in lines."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from search.commands import indexer_command
from search.errors import IndexStoreError, StoreProblem
from search.store import DATABASE_FILE

if TYPE_CHECKING:
    from search.store import Failure, IndexStats

FAILED_SHOWN = 10  # failed files listed without --failed: enough to see what went wrong, short on a big folder


def index_stats(folder: Path, failed_shown: int | None = FAILED_SHOWN) -> list[str]:
    """The lines `stats` prints; the failed files last, the `failed_shown` most recent (None: all)."""
    from search.store import IndexStore  # SQLAlchemy: `python -m indexer` loads this module for FAILED_SHOWN

    store = IndexStore(folder)
    try:
        stats = store.summary()
        failures = store.failures(stats.failed if failed_shown is None else failed_shown) if stats.failed else []
    finally:
        store.close()
    if stats.embed_dim is None and stats.last_build is None:
        # index.sqlite exists, but no build has recorded a model or finished: a first build is running,
        # or one was stopped before its first batch. There is nothing to count yet.
        raise IndexStoreError(
            f"No build has finished yet in {Path(folder).resolve()}; run {indexer_command()} build PHOTOS "
            f"--index {folder} (a first build that is running shows here once its model is loaded).",
            StoreProblem.NOT_BUILT,
        )
    fingerprint = f"{stats.model_fingerprint[:12]}…" if stats.model_fingerprint else "none yet"
    if stats.embed_dim is None:
        model_line = "model      none recorded yet (the folder held no images to encode)"
    else:
        model_line = f"model      {stats.model} (dim {stats.embed_dim}, weights sha256 {fingerprint})"
    lines = [
        f"index      {Path(folder).resolve()}",
        model_line,
        f"photos     {stats.images} searchable, {stats.failed} failed",
    ]
    if stats.copies:
        lines.append(f"copies     {stats.copies} files identical to a searchable photo (shown with it, not counted)")
    if stats.taken_from and stats.taken_to:
        lines.append(f"taken      {stats.taken_from:%Y-%m-%d} … {stats.taken_to:%Y-%m-%d} (EXIF)")
    if stats.last_build:
        lines.append(f"built      {stats.last_build:%Y-%m-%d %H:%M} UTC, vector index {stats.index_type}")
    lines += [f"folder     {root}" for root in stats.roots]
    files = [name for name in (DATABASE_FILE, stats.vector_file) if name and (Path(folder) / name).exists()]
    lines.append("disk       " + ", ".join(f"{n} {(Path(folder) / n).stat().st_size / 1e6:.1f} MB" for n in files))
    return lines + _failed_section(stats, failures)


def _failed_section(stats: IndexStats, failures: list[Failure]) -> list[str]:
    """The failures by reason, then the files themselves with their messages, most recent first."""
    if not stats.failed:
        return []
    counts = [f"{count} × {reason}" for reason, count in stats.failures.items()]
    lines = ["failed     " + counts[0], *("           " + line for line in counts[1:])]
    for failure in failures:
        # The message a failure recorded names its file; one from an older indexer may not.
        shown = failure.detail if failure.detail.startswith(failure.path) else f"{failure.path}: {failure.detail}"
        lines.append("             " + shown)
    if (more := stats.failed - len(failures)) > 0:
        lines.append(f"             … and {more} more ({indexer_command()} stats --failed lists them all)")
    return lines
