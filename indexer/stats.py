"""`python -m indexer stats`: the index's summary (search.store's, the one the page shows), in lines."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from search.commands import indexer_command
from search.errors import IndexStoreError, StoreProblem
from search.i18n import _
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
    if stats.with_text:
        lines.append(
            _("text       read in {count} photos: found by the words on them (build --ocr)").format(
                count=stats.with_text
            )
        )
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
    sizes = (_("{name} {size:.1f} MB").format(name=n, size=(Path(folder) / n).stat().st_size / 1e6) for n in files)
    lines.append(_("disk       ") + ", ".join(sizes))
    return lines + _failed_section(stats, failures)


def _failed_section(stats: IndexStats, failures: list[Failure]) -> list[str]:
    """The failures by reason, then the files themselves with their messages, most recent first."""
    if not stats.failed:
        return []
    counts = [f"{count} × {_(reason)}" for reason, count in stats.failures.items()]  # an ImageProblem
    # The label and the indent under it are one width: the translation keeps the column.
    label = _("failed     ")
    lines = [label + counts[0], *(" " * len(label) + line for line in counts[1:])]
    for failure in failures:
        # The message a failure recorded names its file; one from an older indexer may not.
        shown = failure.detail if failure.detail.startswith(failure.path) else f"{failure.path}: {failure.detail}"
        lines.append("             " + shown)
    if (more := stats.failed - len(failures)) > 0:
        lines.append(
            "             "
            + _("… and {count} more ({command} stats --failed lists them all)").format(
                count=more, command=indexer_command()
            )
        )
    return lines
