"""python -m indexer: build a searchable index of a photo folder, inspect it, search it.

  python -m indexer build ~/Pictures                    # index (or update) with the default model
  python -m indexer build data/demo/photos --model demo # the offline demo: colours and shapes
  python -m indexer search "рыжий кот на диване"        # best matches, with scores
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
import sys
from pathlib import Path

from search.cli import (
    add_device_option,
    add_precision_option,
    add_text_precision_option,
    positive_int,
    positive_seconds,
    run_cli,
)
from search.paths import default_index_dir

from .build import COMMIT_EVERY_N_IMAGES, BuildOptions, build_index


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    build.add_argument(
        "--batch-size",
        type=positive_int,
        default=BuildOptions.batch_size,
        help="images per encoder batch (default %(default)s)",
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
    build.add_argument("--quiet", action="store_true", help="no progress bar")

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

    search = commands.add_parser("search", parents=[common], help="find photos by a Russian description")
    search.add_argument("query", help='what to look for, e.g. "кот на подоконнике"')
    search.add_argument("-k", type=positive_int, default=10, help="how many results (default %(default)s)")
    search.add_argument("--json", action="store_true", help="print JSON lines (path, score, id) instead of a table")
    add_device_option(search, help="where queries are encoded (default %(default)s)")
    add_text_precision_option(search)
    return parser


def _build(args: argparse.Namespace) -> int:
    options = BuildOptions(
        index_dir=args.index,
        model=args.model,
        device=args.device,
        precision=args.precision,
        batch_size=args.batch_size,
        workers=args.workers,
        fast_jpeg=not args.exact_decode,
        timeout_s=args.timeout,
        allow_mass_deletion=args.allow_mass_deletion,
        checkpoint_every=args.checkpoint_every,
        progress=not args.quiet,
    )
    summary = build_index(args.photos, options)
    print("\n".join(summary.lines()))
    return 0


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
    from search.index import open_index  # torch and faiss: only for this command

    index = open_index(args.index, device=args.device, text_precision=args.text_precision)
    hits = index.search(args.query.strip(), k=args.k)
    if args.json:
        for hit in hits:
            print(json.dumps({"path": hit.path, "score": round(hit.score, 4), "id": hit.id}, ensure_ascii=False))
    elif not hits:
        print("the index is empty")
    else:
        for hit in hits:
            print(f"{hit.score:6.3f}  {hit.path}")
    return 0


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
    run = {"build": _build, "stats": _stats, "verify": _verify, "backup": _backup, "search": _search}[args.command]
    return run_cli(
        lambda: run(args),
        interrupted="interrupted: everything up to the last batch is saved; run the same command to resume",
    )


if __name__ == "__main__":
    sys.exit(main())
