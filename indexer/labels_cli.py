"""`tags` and `category`: the zero-shot tags and the personal categories of an index, listed, added,
taught, corrected and removed from the command line (the work is search.open_labels')."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from search.i18n import N_, _, ngettext

if TYPE_CHECKING:
    from search import CategorySummary, CollectionLabels

TAGS_EXAMPLES = N_("""examples:
  python -m indexer tags                                 # the tags the photos carry, with counts
  python -m indexer tags --all --json                    # every tag, one JSON object a line
  python -m indexer tags add гитара --phrasing "электрогитара"   # a tag of your own, applied at once
  python -m indexer tags remove гитара
  python -m indexer search --tag закат --tag море        # photos carrying both tags

Every photo is tagged by the build from its stored vector (nothing is decoded again); a change of
the vocabulary, of the model or of RUPHOTO_TAG_THRESHOLD tags every photo again at the next build.
""")

CATEGORY_EXAMPLES = N_("""examples:
  python -m indexer category add Барсик --example 12 --example ~/Pictures/cat.jpg --not 40
  python -m indexer category add дача --example 7 --example 9 --text "деревянный дом в саду"
  python -m indexer category show Барсик                 # its examples and members, best first
  python -m indexer category correct Барсик --not 77     # «не то»: a wrong member; retrained at once
  python -m indexer category correct Барсик --example 81 # one more example
  python -m indexer category list
  python -m indexer search --category Барсик "на диване"

A category is a linear probe fitted on the stored vectors of your examples against the rest of the
collection, in about a second; it is applied to every photo now and to new photos at each build.
Examples are indexed photos: their ids (search --json) or paths.
""")


def add_label_commands(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """The `tags` and `category` commands and their subcommands."""
    tags = commands.add_parser(
        "tags",
        parents=[common],
        help=_("the photos' tags with their counts; add or remove a tag of your own"),
        description=_("List the zero-shot tags of the index's photos by group, or add or remove a tag of your own."),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_(TAGS_EXAMPLES),
    )
    tags.add_argument(
        "--json", action="store_true", help=_("one JSON object per tag (name, group, count, cover_id, own)")
    )
    tags.add_argument("--all", action="store_true", help=_("also the tags no photo carries"))
    tag_actions = tags.add_subparsers(dest="tags_action", metavar="ACTION")
    add = tag_actions.add_parser(
        "add", parents=[common], help=_("a tag of your own, applied to every photo now (loads the model)")
    )
    add.add_argument("name", help=_('the tag, as you will search for it, e.g. "гитара"'))
    add.add_argument(
        "--phrasing",
        action="append",
        default=[],
        metavar="TEXT",
        help=_("another way to say it, for the model to read (repeatable)"),
    )
    remove = tag_actions.add_parser("remove", parents=[common], help=_("remove a tag of your own"))
    remove.add_argument("name", help=_("the tag"))

    category = commands.add_parser(
        "category",
        parents=[common],
        help=_("personal categories taught by a few example photos: add, list, show, correct, remove"),
        description=_(
            "Teach the index a category of your own from example photos («мой кот Барсик», «дача»), and "
            "find every other photo of it."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_(CATEGORY_EXAMPLES),
    )
    actions = category.add_subparsers(dest="category_action", metavar="ACTION", required=True)
    teach = actions.add_parser("add", parents=[common], help=_("teach a new category from example photos"))
    teach.add_argument("name", help=_("the category's name"))
    _add_example_options(teach)
    teach.add_argument("--text", metavar="WORDS", help=_('words that describe it, e.g. "рыжий кот" (optional)'))
    actions.add_parser("list", parents=[common], help=_("every category with its member count")).add_argument(
        "--json", action="store_true", help=_("one JSON object per category")
    )
    show = actions.add_parser("show", parents=[common], help=_("a category's examples and members, best first"))
    show.add_argument("name", help=_("the category's name"))
    show.add_argument("--limit", type=int, default=20, metavar="N", help=_("members shown (default %(default)s)"))
    show.add_argument("--json", action="store_true", help=_("one JSON object per member"))
    correct = actions.add_parser(
        "correct", parents=[common], help=_("more examples or «не то» photos; the category is retrained")
    )
    correct.add_argument("name", help=_("the category's name"))
    _add_example_options(correct, required=False)
    correct.set_defaults(usage_error=correct.error)
    drop = actions.add_parser("remove", parents=[common], help=_("remove a category"))
    drop.add_argument("name", help=_("the category's name"))


def _add_example_options(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument(
        "--example",
        action="append",
        default=[],
        required=required,
        metavar="PATH_OR_ID",
        help=_("a photo of the category: an indexed photo's id (search --json) or path (repeatable)"),
    )
    parser.add_argument(
        "--not",
        dest="not_examples",
        action="append",
        default=[],
        metavar="PATH_OR_ID",
        help=_("a photo that is not of it («не то»; repeatable)"),
    )


def _example(value: str) -> int | str:
    return int(value) if value.strip().isdigit() else value


def run_tags(args: argparse.Namespace) -> int:
    from search import open_labels

    with open_labels(args.index) as labels:
        if args.tags_action == "add":
            tag = labels.add_tag(args.name, args.phrasing)
            print(
                ngettext(
                    "added the tag {name!r}: {count} photo carries it",
                    "added the tag {name!r}: {count} photos carry it",
                    tag.count,
                ).format(name=tag.name, count=tag.count)
            )
            return 0
        if args.tags_action == "remove":
            labels.remove_tag(args.name)
            print(_("removed the tag {name!r}").format(name=args.name))
            return 0
        shown = [tag for tag in labels.tags() if args.all or tag.count]
        if args.json:
            for tag in shown:
                print(
                    json.dumps(
                        {
                            "name": tag.name,
                            "group": tag.group,
                            "count": tag.count,
                            "cover_id": tag.cover_id,
                            "own": tag.own,
                        },
                        ensure_ascii=False,
                    )
                )
            return 0
        if not shown:
            print(_("no photo carries a tag yet"))
            return 0
        group = None
        for tag in shown:
            if tag.group != group:
                group = tag.group
                print(f"{group}:")
            print(f"  {tag.count:>6}  {tag.name}")
        return 0


def run_category(args: argparse.Namespace) -> int:
    from search import open_labels

    with open_labels(args.index) as labels:
        action = args.category_action
        if action == "add":
            category = labels.add_category(
                args.name, [_example(e) for e in args.example], [_example(e) for e in args.not_examples], args.text
            )
            _said_members(_("taught the category {name!r}"), category)
        elif action == "correct":
            if not args.example and not args.not_examples:
                args.usage_error(_("give an --example or a --not photo to correct the category with"))
            category = labels.correct_category(
                args.name, [_example(e) for e in args.example], [_example(e) for e in args.not_examples]
            )
            _said_members(_("retrained the category {name!r}"), category)
        elif action == "remove":
            labels.remove_category(args.name)
            print(_("removed the category {name!r}").format(name=args.name))
        elif action == "list":
            categories = labels.categories()
            if args.json:
                for category in categories:
                    print(json.dumps(_category_json(category), ensure_ascii=False))
            elif not categories:
                print(_("no category yet: teach one with category add NAME --example PATH_OR_ID"))
            for category in [] if args.json else categories:
                note = "" if category.usable else "  " + _("(of another model: remove it and teach it again)")
                print(f"  {category.members:>6}  {category.name}{note}")
        else:  # show
            _show(labels, args)
    return 0


def _said_members(what: str, category: CategorySummary) -> None:
    print(
        what.format(name=category.name)
        + ": "
        + ngettext("{count} member", "{count} members", category.members).format(count=category.members)
        + " "
        + _("({examples} examples, {not_examples} «не то»)").format(
            examples=len(category.examples), not_examples=len(category.not_examples)
        )
    )


def _category_json(category: CategorySummary) -> dict:
    return {
        "name": category.name,
        "text": category.text,
        "members": category.members,
        "cover_id": category.cover_id,
        "examples": list(category.examples),
        "not_examples": list(category.not_examples),
        "trained_at": category.trained_at.isoformat(timespec="seconds"),
        "usable": category.usable,
    }


def _show(labels: CollectionLabels, args: argparse.Namespace) -> None:
    category = labels.category(args.name)
    members = labels.members(args.name, args.limit)
    paths = labels.paths_of([member.id for member in members])
    if args.json:
        for member in members:
            print(
                json.dumps(
                    {"id": member.id, "score": round(member.score, 4), "path": paths.get(member.id)}, ensure_ascii=False
                )
            )
        return
    print(_("category {name!r}: {members} members").format(name=category.name, members=category.members))
    if category.text:
        print("  " + _("words: {text}").format(text=category.text))
    print("  " + _("examples: {ids}").format(ids=", ".join(map(str, category.examples)) or "-"))
    print("  " + _("«не то»: {ids}").format(ids=", ".join(map(str, category.not_examples)) or "-"))
    for member in members:
        print(f"{member.score:6.3f}  {member.id:>6}  {paths.get(member.id, '?')}")
    if len(members) < category.members:
        print("  " + _("… and {more} more (--limit N)").format(more=category.members - len(members)))
