"""python -m indexer: build a searchable index of a photo folder, inspect it, search it.

  python -m indexer build ~/Pictures                    # index (or update) with the default model
  python -m indexer build data/demo/photos --model demo # the offline demo: colours and shapes
  python -m indexer build /mnt/photos --ray auto        # decode and encode on a running Ray cluster
  python -m indexer watch ~/Pictures                    # build, then keep the index current (Ctrl-C stops)
  python -m indexer search "рыжий кот на диване"        # best matches, with scores
  python -m indexer search --image photo.jpg "зимой"    # like this picture, steered by words (search --help)
  python -m indexer duplicates                          # groups of near-identical photos (bursts, copies)
  python -m indexer stats                               # counts, failures by reason, model
  python -m indexer verify                              # FAISS and SQLite agree? (exit 1 if not)
  python -m indexer verify --repair                     # write the FAISS file again from SQLite
  python -m indexer backup ~/index-backup.sqlite        # a consistent copy, even while a build runs

Re-running build only encodes new and changed files, follows renames without re-encoding, and
removes deleted files (unless most of the folder vanished at once: then it refuses and says why).
An interrupted build resumes where it stopped. Every command takes --index (default data/index,
or $RUPHOTO_DATA/index).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from search.cli import (
    CliParser,
    add_device_option,
    add_nice_option,
    add_precision_option,
    add_text_precision_option,
    lower_priority,
    positive_int,
    positive_seconds,
    run_cli,
)
from search.paths import default_index_dir

from .build import COMMIT_EVERY_N_IMAGES, DEFAULT_BATCH_SIZE, BuildOptions, build_index
from .watch import DEFAULT_RESCAN_EVERY_S, DEFAULT_SETTLE_S

if TYPE_CHECKING:  # torch and faiss are imported by the search command only
    from search import Hit, PhotoIndex


def _parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="python -m indexer",
        description="Semantic photo search for Russian: index a folder with ruCLIP, then search it by description.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index", type=Path, default=default_index_dir(), help="index folder (default %(default)s)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser(
        "build",
        parents=[common],
        help="index a photo folder, or bring its index up to date",
        description="Scan PHOTOS, encode new and changed images, follow renames, drop deleted files.",
    )
    build.add_argument("photos", type=Path, metavar="PHOTOS", help="the folder of photos (searched recursively)")
    build.add_argument(
        "--model",
        help="ruCLIP name, model folder, or 'demo' (default: the model the index was built with, else "
        "$RUCLIP_MODEL, else ruclip-vit-base-patch32-384)",
    )
    add_device_option(build)
    add_precision_option(build)
    add_nice_option(build)
    build.add_argument(
        "--batch-size",
        type=positive_int,
        help=f"images per encoder batch (default {DEFAULT_BATCH_SIZE}; on a GPU, as many as its free memory holds)",
    )
    build.add_argument(
        "--workers",
        type=positive_int,
        default=BuildOptions.workers,
        help="decoding processes (default: one per CPU core, %(default)s here)",
    )
    build.add_argument(
        "--exact-decode", action="store_true", help="decode JPEGs at full size (slower; bit-exact with the reference)"
    )
    build.add_argument(
        "--timeout",
        type=positive_seconds,
        default=BuildOptions.timeout_s,
        help="seconds one file may take to decode (default %(default)s)",
    )
    build.add_argument(
        "--allow-mass-deletion",
        action="store_true",
        help="remove index entries even when most of the folder vanished at once (normally refused)",
    )
    build.add_argument(
        "--checkpoint-every",
        type=positive_int,
        default=COMMIT_EVERY_N_IMAGES,
        help="images between vector-index checkpoints (default %(default)s; SQLite commits every batch anyway)",
    )
    build.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="decode and encode on a Ray cluster (needs the [cluster] extra): --ray alone starts Ray on this "
        "machine; --ray auto or --ray ray://HEAD:10001 joins a running cluster. The photos (and a model "
        "folder) must be at the same path on every node; the index is written here. See README, On a cluster",
    )
    build.add_argument("--quiet", action="store_true", help="no progress bar")

    _add_watch_command(commands, common)
    commands.add_parser("stats", parents=[common], help="what the index holds: counts, failures by reason, model")
    verify = commands.add_parser(
        "verify",
        parents=[common],
        help="check index.sqlite and that FAISS and SQLite agree; exit 1 with a report if not "
        "(2 with the way back if index.sqlite itself is damaged)",
        description="Run SQLite's integrity check, check the FAISS file against what was recorded when it was "
        "written, and compare every vector with SQLite's copy (the source of truth).",
    )
    verify.add_argument(
        "--repair", action="store_true", help="write the FAISS file again from SQLite when it disagrees"
    )
    backup = commands.add_parser(
        "backup",
        parents=[common],
        help="copy index.sqlite consistently (safe while a build runs)",
        description="Copy index.sqlite, the one file that holds every row and vector, with SQLite's online backup. "
        "To restore, put the copy in an empty folder as index.sqlite: the FAISS file is rebuilt from it.",
    )
    # A string, not a Path: a trailing slash ("backups/") says a folder, and Path would drop it.
    backup.add_argument("destination", metavar="DEST", help="a file, or a folder (DIR/) to write index.sqlite in")

    _add_search_command(commands, common)
    _add_duplicates_command(commands, common)
    return parser


WATCH_EXPLAINED = """how it works:
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
"""


def _add_watch_command(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    watch = commands.add_parser(
        "watch",
        parents=[common],
        help="build, then keep the index current as photos are added, edited, moved and deleted",
        description="Index PHOTOS, then follow its changes until Ctrl-C or SIGTERM.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=WATCH_EXPLAINED,
    )
    watch.add_argument("photos", type=Path, metavar="PHOTOS", help="the folder of photos (watched recursively)")
    watch.add_argument("--model", help="as for build (default: the model the index was built with)")
    add_device_option(watch)
    add_precision_option(watch)
    add_nice_option(watch)
    watch.add_argument(
        "--workers",
        type=positive_int,
        default=BuildOptions.workers,
        help="decoding processes (default: one per CPU core, %(default)s here)",
    )
    watch.add_argument(
        "--settle",
        type=positive_seconds,
        default=DEFAULT_SETTLE_S,
        metavar="SECONDS",
        help="index once no change came for this long (default %(default)s; a copy in progress keeps it waiting)",
    )
    watch.add_argument(
        "--rescan-every",
        type=positive_seconds,
        default=DEFAULT_RESCAN_EVERY_S,
        metavar="SECONDS",
        help="look at the whole folder this often even without events (default %(default)s)",
    )
    watch.add_argument(
        "--allow-mass-deletion",
        action="store_true",
        help="as for build: remove index entries even when most of the folder vanished at once",
    )
    watch.add_argument("--quiet", action="store_true", help="no progress bars")


SEARCH_EXAMPLES = """examples:
  python -m indexer search "закат на море" -k 20
  python -m indexer search "закат" --folder ~/Pictures/2023 --date-from 2023-06-01 --date-to 2023-08-31
  python -m indexer search --image ~/Downloads/дача.jpg "зимой"    # like this picture, in winter
  python -m indexer search --image 1234                            # like indexed photo 1234 (an id from --json)
  python -m indexer search "кот + снег - собака" --min-score 0.25  # the query language; confident matches only

A query may start with a minus ("-красный", "- собака"): it is read as the query, not as an option.
Scores are cosine similarities: see "Score" in README.md for what they mean per model.
"""


def _add_search_command(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    search = commands.add_parser(
        "search",
        parents=[common],
        help="find photos by a Russian description, an example picture, or both",
        description="The best matches for QUERY and/or --image, best first, with score, date taken and path.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=SEARCH_EXAMPLES,
    )
    search.add_argument("query", nargs="?", help='what to look for, e.g. "кот на подоконнике" (optional with --image)')
    search.add_argument("-k", type=positive_int, default=10, help="how many results (default %(default)s)")
    search.add_argument(
        "--image",
        metavar="PATH_OR_ID",
        help="an example picture: any image file, or an indexed photo (its path or its id from --json; "
        "then it is left out of the results)",
    )
    search.add_argument(
        "--image-weight",
        type=_finite_float,
        default=1.0,
        metavar="W",
        help="how much the picture counts against the words (default %(default)s)",
    )
    search.add_argument(
        "--folder",
        type=_folder,
        metavar="DIR",
        help="only photos under DIR (a relative DIR is taken from the current folder)",
    )
    search.add_argument(
        "--date-from", type=_iso_date, metavar="YYYY-MM-DD", help="only photos taken on or after this day (EXIF)"
    )
    search.add_argument(
        "--date-to", type=_iso_date, metavar="YYYY-MM-DD", help="only photos taken on or before this day (EXIF)"
    )
    search.add_argument(
        "--min-score",
        type=_finite_float,
        metavar="S",
        help="leave out hits scoring below S; says so when none is left",
    )
    search.add_argument(
        "--json",
        action="store_true",
        help="print JSON lines (path, score, id, taken_at, also_at) instead of a table; notes go to stderr",
    )
    add_device_option(search, help="where queries are encoded (default %(default)s)")
    add_text_precision_option(search)
    # Checks that involve two options run after parsing, and still end as this command's usage error.
    search.set_defaults(usage_error=search.error)


DUPLICATES_EXPLAINED = """Two photos are near-duplicates when their embeddings' cosine similarity is at least
--threshold, and a group also holds together as a whole (no chain of look-alikes). The default is
measured per model: 0.965 for the demo model, 0.95 (unmeasured here) for ruCLIP; see README.md.
The best representative comes first: the largest picture, then the oldest. Nothing is ever
deleted, moved or changed: this command only lists.

examples:
  python -m indexer duplicates
  python -m indexer duplicates --threshold 0.98 --min-size 3
  python -m indexer duplicates --json | jq -r '.photos[1:][].path'    # all but the best of each group
"""


def _add_duplicates_command(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    duplicates = commands.add_parser(
        "duplicates",
        parents=[common],
        help="list groups of near-identical photos (bursts, resized or edited copies); deletes nothing",
        description="Groups of near-duplicate photos, largest first, each with its paths, dates and sizes.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=DUPLICATES_EXPLAINED,
    )
    duplicates.add_argument(
        "--threshold",
        type=_cosine,
        metavar="T",
        help="cosine similarity from which two photos are near-duplicates (default: the model's)",
    )
    duplicates.add_argument(
        "--min-size", type=_at_least_two, default=2, metavar="N", help="only groups of N photos or more (default 2)"
    )
    duplicates.add_argument(
        "--json", action="store_true", help="one JSON object per group; the closing count goes to stderr"
    )


def _cosine(text: str) -> float:
    """A threshold in (0, 1], or a usage error naming the bad value."""
    value = _finite_float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a cosine similarity in (0, 1], e.g. 0.95; got {text!r}")
    return value


def _at_least_two(text: str) -> int:
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"a group has 2 photos or more; got {text!r}")
    return value


def _duplicates(args: argparse.Namespace) -> int:
    from search import duplicate_groups  # faiss: only for this command

    groups = duplicate_groups(args.index, threshold=args.threshold, min_size=args.min_size)
    for number, group in enumerate(groups, 1):
        if args.json:
            print(json.dumps(_group_json(group), ensure_ascii=False))
            continue
        print(f"group {number}: {len(group)} photos")
        for hit in group.hits:
            taken = hit.taken_at.strftime("%Y-%m-%d %H:%M") if hit.taken_at else "-"
            size = f"{hit.width}x{hit.height}" if hit.width and hit.height else "-"
            print(f"  {hit.score:5.3f}  {taken:<16}  {size:>11}  {hit.path}")
            for path in hit.also_at:
                print(f"{'':42}also at: {path}")
    photos = sum(len(group) for group in groups)
    ending = f"{len(groups)} group{'s' * (len(groups) != 1)}, {photos} photo{'s' * (photos != 1)} in them"
    print(ending, file=sys.stderr if args.json else sys.stdout)
    return 0


def _group_json(group) -> dict:
    return {
        "size": len(group),
        "threshold": group.threshold,
        "photos": [
            {
                "path": hit.path,
                "id": hit.id,
                "similarity": round(hit.score, 4),
                "taken_at": hit.taken_at.isoformat() if hit.taken_at else None,
                "width": hit.width,
                "height": hit.height,
                "also_at": hit.also_at,
            }
            for hit in group.hits
        ],
    }


def _iso_date(text: str) -> date:
    """YYYY-MM-DD, or a usage error naming the bad value."""
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _finite_float(text: str) -> float:
    """A number (not nan or inf), or a usage error naming the bad value."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    return value


def _folder(text: str) -> Path:
    """An absolute folder: "~" expanded, a relative one taken from the current folder (as the index
    stores absolute paths). It need not exist: photos on an unplugged disk stay indexed."""
    return Path(os.path.abspath(os.path.expanduser(text)))


def _check_search_options(args: argparse.Namespace) -> None:
    """What argparse cannot check option by option: exits with a usage error (2)."""
    if (args.query is None or not args.query.strip()) and args.image is None:
        args.usage_error("give a QUERY, an --image, or both")
    if args.date_from and args.date_to and args.date_from > args.date_to:
        args.usage_error(f"--date-from {args.date_from} is after --date-to {args.date_to}")


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
        **more,
    )


def _build(args: argparse.Namespace) -> int:
    lower_priority(args.nice)
    options = _build_options(
        args,
        batch_size=args.batch_size,
        fast_jpeg=not args.exact_decode,
        timeout_s=args.timeout,
        checkpoint_every=args.checkpoint_every,
        ray=args.ray,
    )
    summary = build_index(args.photos, options)
    print("\n".join(summary.lines()))
    return 0


def _watch(args: argparse.Namespace) -> int:
    from search.clip.formats import image_suffixes

    from .watch import WatchOptions, watch

    lower_priority(args.nice)
    options = _build_options(args)
    rounds = WatchOptions(settle_s=args.settle, rescan_every_s=args.rescan_every)
    return watch(args.photos, options, rounds, image_suffixes())


def _stats(args: argparse.Namespace) -> int:
    from .stats import index_stats

    print("\n".join(index_stats(args.index)))
    return 0


def _verify(args: argparse.Namespace) -> int:
    from search.store.verify import verify_index

    report = verify_index(args.index, repair=args.repair)
    for note in report.notes:
        print(f"note: {note}")
    for repair in report.repairs:
        print(f"repaired: {repair}")
    if report.ok:
        print(f"ok: {report.rows_indexed} indexed rows, {report.vectors} vectors, one per row, equal to SQLite's")
        return 0
    print(f"BROKEN: {report.rows_indexed} indexed rows, {report.vectors} vectors")
    for problem in report.problems:
        print(f"  {problem}")
    if not args.repair:
        print("run python -m indexer verify --repair to write the vector file again from SQLite")
    return 1


def _backup(args: argparse.Namespace) -> int:
    from search.store.backup import backup_index

    written = backup_index(args.index, args.destination)
    print(f"copied the index to {written} ({written.stat().st_size / 1e6:.1f} MB)")
    return 0


def _search(args: argparse.Namespace) -> int:
    from search import open_index  # torch and faiss: only for this command

    index = open_index(args.index, device=args.device, text_precision=args.text_precision)
    args.query = None if args.query is None else args.query.strip()  # the space _queries_kept_whole added
    image, exclude = (None, []) if args.image is None else _example_image(index, args.image)
    hits = index.search(
        args.query,
        image=image,
        image_weight=args.image_weight,
        exclude=exclude,
        k=args.k,
        folder=args.folder,
        date_from=args.date_from,
        date_to=args.date_to,
    )
    # --min-score is applied here rather than by the search, so that the best score can be named.
    shown = hits if args.min_score is None else [hit for hit in hits if hit.score >= args.min_score]
    if not shown:
        note = _why_nothing(index, args, excluded=bool(exclude)) if not hits else _below_min_score(hits, args)
        print(note, file=sys.stderr if args.json else sys.stdout)
    for hit in shown:
        print(_hit_json(hit) if args.json else _hit_rows(hit))
    return 0


def _example_image(index: PhotoIndex, value: str) -> tuple[int | str, list[int]]:
    """--image as the search takes it, and the ids to leave out: an indexed photo (by id or by path)
    is searched by its stored vector and left out, as `similar` does; any other file is encoded."""
    from search.errors import IndexStoreError, StoreProblem

    path = os.path.abspath(os.path.expanduser(value.strip()))
    if value.strip().isdigit() and not os.path.exists(path):
        row_id = int(value)  # an unknown id fails in the search with a one-line message
    else:
        try:
            row_id = index.id_of(path)
        except IndexStoreError as exc:
            if exc.reason is not StoreProblem.UNKNOWN_IMAGE:
                raise
            return path, []  # a picture from anywhere: a missing or unreadable one fails naming the file
    return row_id, [row_id]


def _why_nothing(index: PhotoIndex, args: argparse.Namespace, *, excluded: bool) -> str:
    """Why a search found nothing: an index without photos, words the model does not know, or
    filters that leave none."""
    stats = index.stats()
    if stats.images == 0:
        if stats.failed:
            files = "1 file" if stats.failed == 1 else f"{stats.failed} files"
            why = f"python -m indexer stats --index {args.index} says why"
            return f"the index holds no photos yet: {files} could not be read ({why})"
        return f"the index holds no photos yet: run python -m indexer build PHOTOS --index {args.index}"
    unknown = None if args.image is not None else index.unknown_query(args.query)
    if unknown:  # the model lists the words it knows and the query has none: its sentence says so
        return unknown
    other = "other " if excluded else ""
    filters = [
        f"{option} {value}"
        for option, value in (("--folder", args.folder), ("--date-from", args.date_from), ("--date-to", args.date_to))
        if value is not None
    ]
    if filters:
        return f"no {other}photo matches the filters ({', '.join(filters)})"
    return f"no {other}photo in the index"


def _below_min_score(hits: list[Hit], args: argparse.Namespace) -> str:
    best = max(hit.score for hit in hits)
    return f"no confident match (best score {best:.3f} is below --min-score {args.min_score:g})"


def _hit_rows(hit: Hit) -> str:
    """Score, date taken and path; identical copies of the photo on lines of their own below."""
    taken = hit.taken_at.strftime("%Y-%m-%d %H:%M") if hit.taken_at else "-"
    return "\n".join(
        [f"{hit.score:6.3f}  {taken:<16}  {hit.path}", *(f"{'':26}also at: {path}" for path in hit.also_at)]
    )


def _hit_json(hit: Hit) -> str:
    taken = hit.taken_at.isoformat() if hit.taken_at else None
    fields = {"path": hit.path, "score": round(hit.score, 4), "id": hit.id, "taken_at": taken, "also_at": hit.also_at}
    return json.dumps(fields, ensure_ascii=False)


def _queries_kept_whole(argv: list[str]) -> list[str]:
    """A query that starts with a minus («-красный», «- собака», «-2:кот») is not an option: every
    option here is `-` plus an ASCII letter, or `--`. A leading space keeps argparse from reading
    it as one; the search strips it."""
    return [
        f" {arg}"
        if arg.startswith("-") and len(arg) > 1 and not (arg[1].isascii() and arg[1].isalpha()) and arg[1] != "-"
        else arg
        for arg in argv
    ]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(_queries_kept_whole(sys.argv[1:] if argv is None else argv))
    if args.command == "search":
        _check_search_options(args)
    run = {
        "build": _build,
        "watch": _watch,
        "stats": _stats,
        "verify": _verify,
        "backup": _backup,
        "search": _search,
        "duplicates": _duplicates,
    }[args.command]
    return run_cli(
        lambda: run(args),
        interrupted=(
            "interrupted: every batch written so far is kept (a first build stopped before its first batch "
            "leaves nothing behind); run the same command to resume"
            if args.command == "build"
            else "interrupted"
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
