"""`python -m indexer stats`: the index's summary (search.store's, the one the page shows), in lines."""

from __future__ import annotations

from pathlib import Path

from search.commands import indexer_command
from search.errors import IndexStoreError, StoreProblem
from search.i18n import _
from search.store import DATABASE_FILE, IndexStore


def index_stats(folder: Path) -> list[str]:
    store = IndexStore(folder)
    try:
        stats = store.summary()
    finally:
        store.close()
    if stats.embed_dim is None and stats.last_build is None:
        # index.sqlite exists, but no build has recorded a model or finished: a first build is running,
        # or one was stopped before its first batch. There is nothing to count yet.
        raise IndexStoreError(
            _(
                "No build has finished yet in {resolve}; run {value} build PHOTOS --index {folder} (a "
                "first build that is running shows here once its model is loaded)."
            ).format(resolve=Path(folder).resolve(), value=indexer_command(), folder=folder),
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
    lines += [f"             {count} × {reason}" for reason, count in stats.failures.items()]
    if stats.taken_from and stats.taken_to:
        lines.append(f"taken      {stats.taken_from:%Y-%m-%d} … {stats.taken_to:%Y-%m-%d} (EXIF)")
    if stats.last_build:
        lines.append(f"built      {stats.last_build:%Y-%m-%d %H:%M} UTC, vector index {stats.index_type}")
    lines += [f"folder     {root}" for root in stats.roots]
    files = [name for name in (DATABASE_FILE, stats.vector_file) if name and (Path(folder) / name).exists()]
    lines.append("disk       " + ", ".join(f"{n} {(Path(folder) / n).stat().st_size / 1e6:.1f} MB" for n in files))
    return lines
