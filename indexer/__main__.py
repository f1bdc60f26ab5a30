"""python -m indexer: build a searchable index of a photo folder, inspect it, search it (EXAMPLES: the commands)."""

from __future__ import annotations

import sys

from .search_client import answered_by_helper

# A search that an index's warm helper answers (indexer/search_client.py) needs none of the imports
# below: asking before them is what makes a command-line search start in a few milliseconds.
if __name__ == "__main__" and (_warm_code := answered_by_helper(sys.argv[1:], "python -m indexer")) is not None:
    sys.exit(_warm_code)

import argparse
from collections.abc import Callable
from pathlib import Path

from search.cli import (
    CliParser,
    add_device_option,
    add_nice_option,
    add_precision_option,
    lower_priority,
    positive_int,
    positive_seconds,
    run_cli,
)
from search.commands import indexer_command, running_as
from search.constants import OCR_MODES
from search.i18n import N_, _
from search.paths import default_index_dir

from .build import FAISS_CHECKPOINT_MIN_IMAGES, BuildOptions, build_index
from .engines import DEFAULT_BATCH_SIZE, default_workers
from .labels_cli import add_label_commands, run_category, run_tags
from .search_cli import (
    add_duplicates_command,
    add_search_command,
    check_search_options,
    queries_kept_whole,
    run_duplicates,
    run_search,
)
from .stats import FAILED_SHOWN
from .watch import DEFAULT_RESCAN_EVERY_S, DEFAULT_SETTLE_S

PROG = "python -m indexer"

# The commands, as `--help` shows them below its options (translated there).
EXAMPLES = N_("""examples:
  python -m indexer build ~/Pictures                    # index (or update) with the default model
  python -m indexer build data/demo/photos --model demo # the offline demo: colours and shapes
  python -m indexer build /mnt/photos --ray auto        # decode and encode on a running Ray cluster
  python -m indexer watch ~/Pictures                    # build, then keep the index current (Ctrl-C stops)
  python -m indexer search "рыжий кот на диване"        # best matches, with scores
  python -m indexer search --image photo.jpg "зимой"    # like this picture, steered by words (search --help)
  python -m indexer duplicates                          # groups of near-identical photos (bursts, copies)
  python -m indexer tags                                # the photos' tags with counts (tags --help)
  python -m indexer category add Барсик --example 12    # a category of your own (category --help)
  python -m indexer stats                               # counts, failures by reason, model
  python -m indexer verify                              # FAISS and SQLite agree? (exit 1 if not)
  python -m indexer verify --repair                     # write the FAISS file again from SQLite
  python -m indexer backup ~/index-backup.sqlite        # a consistent copy, even while a build runs
  python -m indexer backup --restore ~/index-backup.sqlite --index DIR   # put it back (backup --help)

Re-running build only encodes new and changed files, follows renames without re-encoding, and
removes deleted files (unless most of the folder vanished at once: then it refuses and says why).
An interrupted build resumes where it stopped. Every command takes --index (default data/index,
or $RUPHOTO_DATA/index).
""")


def parser(
    prog: str = PROG, more_commands: Callable[[argparse._SubParsersAction], None] | None = None
) -> argparse.ArgumentParser:
    """The command line of `python -m indexer` (or of the `ruphoto` console script, named `prog`, which
    adds its own commands through `more_commands`)."""
    return _parser(prog, more_commands)


def _parser(
    prog: str = PROG, more_commands: Callable[[argparse._SubParsersAction], None] | None = None
) -> argparse.ArgumentParser:
    parser = CliParser(
        prog=prog,
        description=_("Semantic photo search for Russian: index a folder with ruCLIP, then search it by description."),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_(EXAMPLES).replace(PROG, prog),  # the examples as this program is called
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index", type=Path, default=default_index_dir(), help=_("index folder (default %(default)s)"))
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser(
        "build",
        parents=[common],
        help=_("index a photo folder, or bring its index up to date"),
        description=_("Scan PHOTOS, encode new and changed images, follow renames, drop deleted files."),
    )
    build.add_argument("photos", type=Path, metavar="PHOTOS", help=_("the folder of photos (searched recursively)"))
    build.add_argument(
        "--model",
        help=_(
            "ruCLIP name, model folder, or 'demo' (default: the model the index was built with, else "
            "$RUPHOTO_MODEL, else ruclip-vit-base-patch32-384)"
        ),
    )
    add_device_option(build)
    add_precision_option(build)
    add_nice_option(build)
    build.add_argument(
        "--batch-size",
        type=positive_int,
        help=_(
            "images per encoder batch (default {DEFAULT_BATCH_SIZE}; on a GPU, as many as its free memory holds)"
        ).format(DEFAULT_BATCH_SIZE=DEFAULT_BATCH_SIZE),
    )
    build.add_argument(
        "--workers",
        type=positive_int,
        default=default_workers(),
        help=_("decoding processes (default: one per CPU core, %(default)s here)"),
    )
    build.add_argument(
        "--exact-decode",
        action="store_true",
        help=_("decode JPEGs at full size (slower; bit-exact with the reference)"),
    )
    build.add_argument(
        "--timeout",
        type=positive_seconds,
        default=BuildOptions.timeout_s,
        help=_("seconds one file may take to decode (default %(default)s)"),
    )
    build.add_argument(
        "--allow-mass-deletion",
        action="store_true",
        help=_("remove index entries even when most of the folder vanished at once (normally refused)"),
    )
    build.add_argument(
        "--checkpoint-every",
        type=positive_int,
        default=FAISS_CHECKPOINT_MIN_IMAGES,
        help=_(
            "images written before the vector index is checkpointed again (default %(default)s; on a "
            "large collection checkpoints are also spaced by their own cost; SQLite commits every "
            "batch anyway)"
        ),
    )
    build.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help=_(
            "decode and encode on a Ray cluster (needs the [cluster] extra): --ray alone starts Ray on "
            "this machine; --ray auto or --ray ray://HEAD:10001 joins a running cluster. The photos "
            "(and a model folder) must be at the same path on every node; the index is written here. "
            "See README, On a cluster"
        ),
    )
    add_ocr_option(build)
    build.add_argument("--quiet", action="store_true", help=_("no progress bar"))

    _add_watch_command(commands, common)
    stats = commands.add_parser(
        "stats",
        parents=[common],
        help=_("what the index holds: counts, model, the files that failed and why"),
        description=_(
            "Print what the index holds, a line each: its folder; the model (name, vector size, a "
            "checksum of its weights); how many photos are searchable and how many failed, identical copies; the "
            "dates taken (EXIF); the last build and its vector index; the photo folders it was built from; the "
            "files' sizes on disk. Last, the failures counted by reason and the files that failed, each with its "
            "message, the {count} most recent (--failed lists them all). It only reads: nothing is changed."
        ).format(count=FAILED_SHOWN),
    )
    stats.add_argument("--failed", action="store_true", help=_("list every file that failed, not only the most recent"))
    verify = commands.add_parser(
        "verify",
        parents=[common],
        help=_(
            "check index.sqlite and that FAISS and SQLite agree; exit 1 with a report if not (2 with "
            "the way back if index.sqlite itself is damaged)"
        ),
        description=_(
            "Run SQLite's integrity check, check the FAISS file against what was recorded when it was "
            "written, and compare every vector with SQLite's copy (the source of truth). A FAISS file "
            "that is not there (a restored backup, a deleted cache) is a note, not a fault: the next "
            "search or build makes it."
        ),
    )
    verify.add_argument(
        "--repair",
        action="store_true",
        help=_("write the FAISS file again from SQLite when it disagrees or is missing"),
    )
    backup = commands.add_parser(
        "backup",
        parents=[common],
        help=_("copy index.sqlite consistently (safe while a build runs), or restore such a copy (--restore)"),
        description=_(
            "Copy index.sqlite, the one file that holds every row and vector, with SQLite's "
            "online\nbackup (the FAISS file is a cache, made again from it). With --restore SRC, put "
            "such a copy\nback as the --index folder's index.sqlite and write its FAISS file from it: "
            "the folder is\nthen ready to search and verify."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_(BACKUP_EXAMPLES),
    )
    what = backup.add_mutually_exclusive_group(required=True)
    # A string, not a Path: a trailing slash ("backups/") says a folder, and Path would drop it.
    what.add_argument(
        "destination", nargs="?", metavar="DEST", help=_("a file, or a folder (DIR/) to write index.sqlite in")
    )
    what.add_argument(
        "--restore",
        metavar="SRC",
        help=_(
            "restore the backup SRC (a file backup wrote, or a folder holding index.sqlite) into "
            "--index instead of making one"
        ),
    )
    backup.add_argument(
        "--force",
        action="store_true",
        help=_("with --restore: replace the index already in --index (normally refused)"),
    )
    backup.set_defaults(usage_error=backup.error)

    add_search_command(commands, common)
    add_duplicates_command(commands, common)
    add_label_commands(commands, common)
    if more_commands is not None:
        more_commands(commands)
    for command in commands.choices.values():  # each command's examples, as this program is called
        command.epilog = command.epilog and command.epilog.replace(PROG, prog)
    return parser


WATCH_EXPLAINED = N_("""how it works:
  At start, watch runs an ordinary build (catching up on whatever changed while nothing watched),
  then follows file-system events: a photo added, edited, moved, renamed or deleted is searchable
  (or gone) a few seconds later; the page shows it without a restart. Events are gathered until
  none came for --settle seconds, so importing 500 photos is one round, not 500. Every
  --rescan-every seconds it looks at the whole folder anyway: network drives (NFS, SMB) send no
  events. Each round that changed something prints one line, e.g.
    14:02:31 +3 new, 1 renamed, 2 deleted; 1234 searchable (0.8 s)
  If PHOTOS disappears (an unplugged disk), nothing is removed: watch waits and catches up when it
  is back. It holds the index's lock only during a round, so 'build' or 'verify' can run meanwhile.
  Ctrl-C or SIGTERM stops it after the batch being encoded (press Ctrl-C twice to stop at once);
  every batch written is kept. Thumbnails of photos gone from the index are deleted.

examples:
  python -m indexer watch ~/Pictures
  python -m indexer watch /mnt/nas/photos --rescan-every 60     # a network drive: rescan more often
  nohup python -m indexer watch ~/Pictures --quiet >> watch.log 2>&1 &
""")


BACKUP_EXAMPLES = N_("""examples:
  python -m indexer backup ~/index-backup.sqlite                        # copy data/index/index.sqlite
  python -m indexer backup --restore ~/index-backup.sqlite --index ~/photo-index   # into a new folder
  python -m indexer backup --restore ~/index-backup.sqlite --force      # replace data/index with the copy

A restore refuses to replace an index unless --force is given; with it, the old database, its FAISS
file and its thumbnails are replaced. Stop the page and any watch on that folder first.
""")


def add_ocr_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ocr",
        choices=OCR_MODES,
        default="auto",
        help=_(
            "read the text in photos, to find them by the words on them (needs the [ocr] extra and "
            "Tesseract's Russian data, see README): auto reads the photos likely to hold text "
            "(screenshots, scans, receipts, documents), all reads every photo (about a second each), "
            "off reads none and keeps what was read (default %(default)s)"
        ),
    )


def _add_watch_command(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    watch = commands.add_parser(
        "watch",
        parents=[common],
        help=_("build, then keep the index current as photos are added, edited, moved and deleted"),
        description=_("Index PHOTOS, then follow its changes until Ctrl-C or SIGTERM."),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_(WATCH_EXPLAINED),
    )
    watch.add_argument("photos", type=Path, metavar="PHOTOS", help=_("the folder of photos (watched recursively)"))
    watch.add_argument("--model", help=_("as for build (default: the model the index was built with)"))
    add_device_option(watch)
    add_precision_option(watch)
    add_nice_option(watch)
    watch.add_argument(
        "--workers",
        type=positive_int,
        default=default_workers(),
        help=_("decoding processes (default: one per CPU core, %(default)s here)"),
    )
    watch.add_argument(
        "--settle",
        type=positive_seconds,
        default=DEFAULT_SETTLE_S,
        metavar="SECONDS",
        help=_("index once no change came for this long (default %(default)s; a copy in progress keeps it waiting)"),
    )
    watch.add_argument(
        "--rescan-every",
        type=positive_seconds,
        default=DEFAULT_RESCAN_EVERY_S,
        metavar="SECONDS",
        help=_("look at the whole folder this often even without events (default %(default)s)"),
    )
    watch.add_argument(
        "--allow-mass-deletion",
        action="store_true",
        help=_("as for build: remove index entries even when most of the folder vanished at once"),
    )
    add_ocr_option(watch)
    watch.add_argument("--quiet", action="store_true", help=_("no progress bars"))


def _build_options(args: argparse.Namespace, **more: object) -> BuildOptions:
    """The options `build` and `watch` share, plus `more` of build's own."""
    return BuildOptions(
        index_dir=args.index,
        model=args.model,
        device=args.device,
        precision=args.precision,
        workers=args.workers,
        allow_mass_deletion=args.allow_mass_deletion,
        progress=not args.quiet,
        ocr=args.ocr,
        **more,
    )


def _build(args: argparse.Namespace) -> int:
    lower_priority(args.nice)
    options = _build_options(
        args,
        batch_size=args.batch_size,
        fast_jpeg=not args.exact_decode,
        timeout_s=args.timeout,
        checkpoint_min_images=args.checkpoint_every,
        ray=args.ray,
    )
    summary = build_index(args.photos, options)
    print("\n".join(summary.lines()))
    return 0


def _watch(args: argparse.Namespace) -> int:
    from .watch import WatchOptions, watch

    lower_priority(args.nice)
    options = WatchOptions(_build_options(args), settle_s=args.settle, rescan_every_s=args.rescan_every)
    return watch(args.photos, options)


def _stats(args: argparse.Namespace) -> int:
    from .stats import index_stats

    print("\n".join(index_stats(args.index, None if args.failed else FAILED_SHOWN)))
    return 0


def _verify(args: argparse.Namespace) -> int:
    from search import verify_index

    report = verify_index(args.index, repair=args.repair)
    for note in report.notes:
        print(_("note: {note}").format(note=note))
    for repair in report.repairs:
        print(_("repaired: {repair}").format(repair=repair))
    if report.ok:
        print(
            _("ok: {rows_indexed} indexed rows, {vectors} vectors, one per row, equal to SQLite's").format(
                rows_indexed=report.rows_indexed, vectors=report.vectors
            )
        )
        return 0
    print(
        _("BROKEN: {rows_indexed} indexed rows, {vectors} vectors").format(
            rows_indexed=report.rows_indexed, vectors=report.vectors
        )
    )
    for problem in report.problems:
        print(f"  {problem}")
    if not args.repair:
        print(
            _("run {command} verify --repair --index {index} to write the vector file again from SQLite").format(
                command=indexer_command(), index=args.index
            )
        )
    return 1


def _backup(args: argparse.Namespace) -> int:
    from search import backup_index

    if args.restore is not None:
        return _restore(args)
    if args.force:
        args.usage_error(_("--force goes with --restore SRC (a backup DEST is always written whole)"))
    written = backup_index(args.index, args.destination)
    print(_("copied the index to {written} ({size:.1f} MB)").format(written=written, size=written.stat().st_size / 1e6))
    return 0


def _restore(args: argparse.Namespace) -> int:
    from search import restore_index

    restored = restore_index(args.restore, args.index, force=args.force)
    if restored.vector_file is None:
        print(
            _("restored {database} from {restore}; no build had finished in it: run build next").format(
                database=restored.database, restore=args.restore
            )
        )
        return 0
    print(
        _(
            "restored {database} from {restore}: {images} indexed photos, vector file {vector_file} "
            "written from it; ready to search"
        ).format(
            database=restored.database, restore=args.restore, images=restored.images, vector_file=restored.vector_file
        )
    )
    return 0


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = _parser(prog).parse_args(queries_kept_whole(sys.argv[1:] if argv is None else argv))
    if args.command == "search":
        check_search_options(args)
    run = {
        "build": _build,
        "watch": _watch,
        "stats": _stats,
        "verify": _verify,
        "backup": _backup,
        "search": run_search,
        "duplicates": run_duplicates,
        "tags": run_tags,
        "category": run_category,
    }[args.command]
    with running_as(prog):  # the hints of every message name the program the user ran
        return _run(run, args)


def _run(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    return run_cli(
        lambda: run(args),
        interrupted=(
            _(
                "interrupted: every batch written so far is kept (a first build stopped before its first batch "
                "leaves nothing behind); run the same command to resume"
            )
            if args.command == "build"
            else _("interrupted")
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
