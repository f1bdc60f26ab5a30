"""The query side of python -m indexer: the `search` and `duplicates` commands.

A command's options become one SearchRequest; the results' empty reason is only worded here
(search/query/ decides it). Everything comes through the `search` package's public names.
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

from search.cli import add_device_option, add_text_precision_option, positive_int
from search.commands import indexer_command
from search.i18n import N_, _, ngettext

from .search_client import helper_idle_s, start_helper

if TYPE_CHECKING:  # torch and faiss are imported by these commands only, when they run
    from search import DuplicateGroup, Hit, PhotoIndex, SearchResults


SEARCH_EXAMPLES = N_("""examples:
  python -m indexer search "закат на море" -k 20
  python -m indexer search "закат" --folder ~/Pictures/2023 --date-from 2023-06-01 --date-to 2023-08-31
  python -m indexer search --image ~/Downloads/дача.jpg "зимой"    # like this picture, in winter
  python -m indexer search --image 1234                            # like indexed photo 1234 (an id from --json)
  python -m indexer search --tag закат "на море"                   # only photos tagged «закат»
  python -m indexer search --category Барсик                       # a category of your own, best first
  python -m indexer search "кот + снег - собака" --min-score 0.25  # the query language; confident matches only
  python -m indexer search "чеки из пятёрочки"                     # also finds «ЧЕК», «Пятёрочка» written on photos
  python -m indexer search '"пароль" wifi'                         # «пароль» must be on the photo (build --ocr)

A query may start with a minus ("-красный", "- собака"): it is read as the query, not as an option.
Scores are cosine similarities: see "Score" in README.md for what they mean per model.
The words of a query are also looked for in the text read in the photos (build --ocr auto, the
default, reads screenshots, scans and receipts), in any inflected form; both rankings are fused.
""")  # translated where it is shown


def add_search_command(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    search = commands.add_parser(
        "search",
        parents=[common],
        help=_("find photos by a Russian description, an example picture, or both"),
        description=_("The best matches for QUERY and/or --image, best first, with score, date taken and path."),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_(SEARCH_EXAMPLES),
    )
    search.add_argument(
        "query", nargs="?", help=_('what to look for, e.g. "кот на подоконнике" (optional with --image)')
    )
    search.add_argument("-k", type=positive_int, default=10, help=_("how many results (default %(default)s)"))
    search.add_argument(
        "--image",
        metavar="PATH_OR_ID",
        help=_(
            "an example picture: any image file, or an indexed photo (its path or its id from --json; "
            "then it is left out of the results)"
        ),
    )
    search.add_argument(
        "--image-weight",
        type=_finite_float,
        default=1.0,
        metavar="W",
        help=_("how much the picture counts against the words (default %(default)s)"),
    )
    search.add_argument(
        "--folder",
        type=_folder,
        metavar="DIR",
        help=_("only photos under DIR (a relative DIR is taken from the current folder)"),
    )
    search.add_argument(
        "--date-from", type=_iso_date, metavar="YYYY-MM-DD", help=_("only photos taken on or after this day (EXIF)")
    )
    search.add_argument(
        "--date-to", type=_iso_date, metavar="YYYY-MM-DD", help=_("only photos taken on or before this day (EXIF)")
    )
    search.add_argument(
        "--tag",
        dest="tags",
        action="append",
        default=[],
        metavar="NAME",
        help=_("only photos carrying this tag (repeatable: all of them; `tags` lists them)"),
    )
    search.add_argument(
        "--category", metavar="NAME", help=_("only photos of this personal category (`category list` lists them)")
    )
    words = search.add_mutually_exclusive_group()
    words.add_argument(
        "--text-only",
        action="store_const",
        const="only",
        dest="ocr",
        default="auto",
        help=_(
            "look for the words in the text read in the photos only (build --ocr), not for their meaning; "
            "a word in quotes, '\"пароль\"', is looked for there alone too"
        ),
    )
    words.add_argument(
        "--no-text",
        action="store_const",
        const="off",
        dest="ocr",
        help=_("look for the meaning only, not for the words in the text read in the photos"),
    )
    search.add_argument(
        "--min-score",
        type=_finite_float,
        metavar="S",
        help=_("leave out hits scoring below S; says so when none is left"),
    )
    search.add_argument(
        "--json",
        action="store_true",
        help=_(
            "print JSON lines (path, score, id, taken_at, also_at, tags, categories, matched_words) instead of a "
            "table; notes go to stderr"
        ),
    )
    add_device_option(search, help=_("where queries are encoded (default %(default)s)"))
    add_text_precision_option(search)
    # Checks that involve two options run after parsing, and still end as this command's usage error.
    search.set_defaults(usage_error=search.error)


DUPLICATES_EXPLAINED = N_("""Two photos are near-duplicates (the same shot) when their embeddings' cosine similarity is
at least --threshold AND the pictures themselves match (8 x 8 colour cells of each, within 0.12),
and a group also holds together as a whole (no chain of look-alikes). The default threshold is
measured per model: 0.91 for the demo model, 0.95 (unmeasured here) for ruCLIP; see README.md.
The best representative comes first: the largest picture, then the oldest. Nothing is ever
deleted, moved or changed: this command only lists.

examples:
  python -m indexer duplicates
  python -m indexer duplicates --threshold 0.98 --min-size 3
  python -m indexer duplicates --json | jq -r '.photos[1:][].path'    # all but the best of each group
""")


def add_duplicates_command(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    duplicates = commands.add_parser(
        "duplicates",
        parents=[common],
        help=_("list groups of near-identical photos (bursts, resized or edited copies); deletes nothing"),
        description=_("Groups of near-duplicate photos, largest first, each with its paths, dates and sizes."),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_(DUPLICATES_EXPLAINED),
    )
    duplicates.add_argument(
        "--threshold",
        type=_cosine,
        metavar="T",
        help=_("cosine similarity from which two photos are near-duplicates (default: the model's)"),
    )
    duplicates.add_argument(
        "--min-size", type=_at_least_two, default=2, metavar="N", help=_("only groups of N photos or more (default 2)")
    )
    duplicates.add_argument(
        "--json", action="store_true", help=_("one JSON object per group; the closing count goes to stderr")
    )


def _cosine(text: str) -> float:
    """A threshold in (0, 1], or a usage error naming the bad value."""
    value = _finite_float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(
            _("expected a cosine similarity in (0, 1], e.g. 0.95; got {text!r}").format(text=text)
        )
    return value


def _at_least_two(text: str) -> int:
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(_("a group has 2 photos or more; got {text!r}").format(text=text))
    return value


def run_duplicates(args: argparse.Namespace) -> int:
    """`duplicates`: the near-duplicate groups, as a table or JSON lines."""
    from search import duplicate_groups  # faiss: only for this command

    groups = duplicate_groups(args.index, threshold=args.threshold, min_size=args.min_size)
    for number, group in enumerate(groups, 1):
        if args.json:
            print(json.dumps(_group_json(group), ensure_ascii=False))
            continue
        print(
            ngettext("group {number}: {count} photo", "group {number}: {count} photos", len(group)).format(
                number=number, count=len(group)
            )
        )
        for hit in group.hits:
            taken = hit.taken_at.strftime("%Y-%m-%d %H:%M") if hit.taken_at else "-"
            size = f"{hit.width}x{hit.height}" if hit.width and hit.height else "-"
            print(f"  {hit.score:5.3f}  {taken:<16}  {size:>11}  {hit.path}")
            for path in hit.also_at:
                print(" " * 42 + _("also at: {path}").format(path=path))
    photos = sum(len(group) for group in groups)
    ending = ngettext("{count} group", "{count} groups", len(groups)).format(count=len(groups))
    ending += ", " + ngettext("{count} photo in them", "{count} photos in them", photos).format(count=photos)
    print(ending, file=sys.stderr if args.json else sys.stdout)
    return 0


def _group_json(group: DuplicateGroup) -> dict:
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
        raise argparse.ArgumentTypeError(_("expected a date as YYYY-MM-DD, got {text!r}").format(text=text)) from None


def _finite_float(text: str) -> float:
    """A number (not nan or inf), or a usage error naming the bad value."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(_("expected a number, got {text!r}").format(text=text))
    return value


def _folder(text: str) -> Path:
    """An absolute folder: "~" expanded, a relative one taken from the current folder (as the index
    stores absolute paths). It need not exist: photos on an unplugged disk stay indexed."""
    return Path(os.path.abspath(os.path.expanduser(text)))


def check_search_options(args: argparse.Namespace) -> None:
    """What argparse cannot check option by option: exits with a usage error (2)."""
    labelled = bool(args.tags) or args.category is not None
    if (args.query is None or not args.query.strip()) and args.image is None and not labelled:
        args.usage_error(_("give a QUERY, an --image, a --tag or a --category"))
    if args.date_from and args.date_to and args.date_from > args.date_to:
        args.usage_error(
            _("--date-from {start} is after --date-to {end}").format(start=args.date_from, end=args.date_to)
        )


def run_search(args: argparse.Namespace) -> int:
    """`search`: one SearchRequest from the options, its hits printed, or why there is none."""
    from search import SearchRequest  # faiss and the model: only for this command

    helper_idle_s()  # a wrong RUPHOTO_SEARCH_HELPER_IDLE is said before the search, not after it
    index = _opened_index(args)
    query = None if args.query is None else args.query.strip()  # the space queries_kept_whole added
    image, exclude = (None, []) if args.image is None else _example_image(index, args.image)
    request = SearchRequest.of(
        query,
        image=image,
        image_weight=args.image_weight,
        exclude=exclude,
        k=args.k,
        folder=args.folder,
        date_from=args.date_from,
        date_to=args.date_to,
        min_score=args.min_score,
        tags=args.tags,
        category=args.category,
        ocr=args.ocr,
    )
    hits = index.run(request)
    if not hits:
        print(_nothing_found(index, hits, args, excluded=bool(exclude)), file=sys.stderr if args.json else sys.stdout)
    for hit in hits:
        print(_hit_json(hit) if args.json else _hit_rows(hit))
    if _open_indexes is None:  # a search of its own process: the next one may be answered warm
        sys.stdout.flush()
        start_helper(Path(args.index), indexer_command())
    return 0


# The indexes a warm search helper (indexer/search_server.py) keeps open between its searches; None
# in a search's own process, which opens its index once and exits.
_open_indexes: dict[tuple[str, str, str], PhotoIndex] | None = None


def keep_indexes_open() -> None:
    """From now on, keep each index a search opens open for the next search (the helper's mode)."""
    global _open_indexes
    _open_indexes = {}


def _opened_index(args: argparse.Namespace) -> PhotoIndex:
    from search import open_index

    if _open_indexes is None:
        return open_index(args.index, device=args.device, text_precision=args.text_precision)
    key = (str(Path(args.index).absolute()), args.device, args.text_precision)
    if key not in _open_indexes:
        _open_indexes[key] = open_index(args.index, device=args.device, text_precision=args.text_precision)
    return _open_indexes[key]


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


def _nothing_found(index: PhotoIndex, results: SearchResults, args: argparse.Namespace, *, excluded: bool) -> str:
    """The search's empty reason, worded: an index without photos, words the model does not know,
    filters that leave none, no hit over --min-score."""
    from search import EmptyReason

    reason = results.empty_reason
    if reason is EmptyReason.INDEX_EMPTY:
        failed = index.stats().failed
        if failed:
            return ngettext(
                "the index holds no photos yet: {count} file could not be read ({command} stats --index {index} "
                "says why)",
                "the index holds no photos yet: {count} files could not be read ({command} stats --index {index} "
                "says why)",
                failed,
            ).format(count=failed, command=indexer_command(), index=args.index)
        return _("the index holds no photos yet: run {command} build PHOTOS --index {index}").format(
            command=indexer_command(), index=args.index
        )
    if reason is EmptyReason.UNKNOWN_WORDS and results.note:  # the model's own sentence on what it knows
        return results.note
    if reason is EmptyReason.NO_TEXT_READ:
        return _(
            "no text was read in the photos of this index: build it with the [ocr] extra installed ({command} "
            "build PHOTOS --index {index} --ocr auto, or --ocr all for every photo)"
        ).format(command=indexer_command(), index=args.index)
    if reason is EmptyReason.NO_TEXT_MATCH:
        return _("no photo holds these words in its text")
    if reason is EmptyReason.BELOW_MIN_SCORE and results.best_score is not None:
        return _("no confident match (best score {score:.3f} is below --min-score {min_score:g})").format(
            score=results.best_score, min_score=args.min_score
        )
    # "other": the example photo itself is left out
    if reason is EmptyReason.FILTERS_LEAVE_NOTHING:
        filters = [
            f"{option} {value}"
            for option, value in (
                ("--folder", args.folder),
                ("--date-from", args.date_from),
                ("--date-to", args.date_to),
                *(("--tag", tag) for tag in args.tags),
                ("--category", args.category),
            )
            if value is not None
        ]
        if excluded:
            return _("no other photo matches the filters ({filters})").format(filters=", ".join(filters))
        return _("no photo matches the filters ({filters})").format(filters=", ".join(filters))
    return _("no other photo in the index") if excluded else _("no photo in the index")


def _hit_rows(hit: Hit) -> str:
    """Score, date taken and path; identical copies of the photo on lines of their own below, then its
    tags and categories."""
    taken = hit.taken_at.strftime("%Y-%m-%d %H:%M") if hit.taken_at else "-"
    labels = ", ".join((*hit.tags, *hit.categories))
    matched = ", ".join(hit.matched_words)
    return "\n".join(
        [
            f"{hit.score:6.3f}  {taken:<16}  {hit.path}",
            *(" " * 26 + _("also at: {path}").format(path=path) for path in hit.also_at),
            *([" " * 26 + _("words on it: {words}").format(words=matched)] if matched else []),
            *([" " * 26 + _("tags: {tags}").format(tags=labels)] if labels else []),
        ]
    )


def _hit_json(hit: Hit) -> str:
    taken = hit.taken_at.isoformat() if hit.taken_at else None
    fields = {
        "path": hit.path,
        "score": round(hit.score, 4),
        "id": hit.id,
        "taken_at": taken,
        "also_at": hit.also_at,
        "tags": hit.tags,
        "categories": hit.categories,
        "matched_words": hit.matched_words,
    }
    return json.dumps(fields, ensure_ascii=False)


def queries_kept_whole(argv: list[str]) -> list[str]:
    """A query that starts with a minus («-красный», «- собака», «-2:кот») is not an option: every
    option here is `-` plus an ASCII letter, or `--`. A leading space keeps argparse from reading
    it as one; the search strips it."""
    return [
        f" {arg}"
        if arg.startswith("-") and len(arg) > 1 and not (arg[1].isascii() and arg[1].isalpha()) and arg[1] != "-"
        else arg
        for arg in argv
    ]
