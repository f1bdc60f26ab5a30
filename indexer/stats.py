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
                "No build has finished yet in {where}; run {command} build PHOTOS --index {folder} (a "
                "first build that is running shows here once its model is loaded)."
            ).format(where=Path(folder).resolve(), command=indexer_command(), folder=folder),
            StoreProblem.NOT_BUILT,
        )
    fingerprint = f"{stats.model_fingerprint[:12]}…" if stats.model_fingerprint else _("none yet")
    if stats.embed_dim is None:
        model_line = _("model      none recorded yet (the folder held no images to encode)")
    else:
        model_line = _("model      {model} (dim {embed_dim}, weights sha256 {fingerprint})").format(
            model=stats.model, embed_dim=stats.embed_dim, fingerprint=fingerprint
        )
    lines = [
        _("index      {folder}").format(folder=Path(folder).resolve()),
        model_line,
        _("photos     {images} searchable, {failed} failed").format(images=stats.images, failed=stats.failed),
    ]
    if stats.copies:
        lines.append(
            _("copies     {copies} files identical to a searchable photo (shown with it, not counted)").format(
                copies=stats.copies
            )
        )
    lines += [f"             {count} × {_(reason)}" for reason, count in stats.failures.items()]  # an ImageProblem
    if stats.taken_from and stats.taken_to:
        lines.append(
            _("taken      {taken_from:%Y-%m-%d} … {taken_to:%Y-%m-%d} (EXIF)").format(
                taken_from=stats.taken_from, taken_to=stats.taken_to
            )
        )
    if stats.last_build:
        lines.append(
            _("built      {last_build:%Y-%m-%d %H:%M} UTC, vector index {index_type}").format(
                last_build=stats.last_build, index_type=stats.index_type
            )
        )
    lines += [_("folder     {root}").format(root=root) for root in stats.roots]
    files = [name for name in (DATABASE_FILE, stats.vector_file) if name and (Path(folder) / name).exists()]
    lines.append(
        _("disk       ")
        + ", ".join(
            _("{name} {size:.1f} MB").format(name=n, size=(Path(folder) / n).stat().st_size / 1e6) for n in files
        )
    )
    return lines
