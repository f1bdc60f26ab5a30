"""python -m training: reproduce the offline demo model and its photo collection (the commands: EXAMPLES)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields, replace
from pathlib import Path

from search.cli import CliParser, positive_int, run_cli
from search.i18n import N_, _

from .demo import (
    DEMO_MODEL_DIR,
    DEMO_PHOTOS_DIR,
    DEMO_VOCABULARY,
    DemoRecipe,
    evaluate_demo_model,
    learn_demo_vocabulary,
    train_demo_model,
    write_demo_photos,
)

EXAMPLES = N_(
    """python -m training demo-model                   # retrain search/clip/demo_model (about 8 minutes on 2 cores)
python -m training demo-photos                  # rewrite the demo collection data/demo/photos
python -m training evaluate                      # precision@5 of the 32 colour+shape queries
"""
)  # --help's epilog, translated where shown


def _parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="python -m training",
        description=_("Train and check the small offline demo model (coloured shapes with Russian captions)."),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_(EXAMPLES),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    defaults = DemoRecipe()
    model = commands.add_parser(
        "demo-model",
        help=_("train the demo model from scratch (seeded: the same recipe gives the same model)"),
        description=_(
            "Generate captioned pictures, learn a BPE vocabulary and train a small ruCLIP on them with "
            "the CLIP contrastive loss; the folder is replaced only once training is done."
        ),
    )
    model.add_argument(
        "--out",
        type=Path,
        default=DEMO_MODEL_DIR,
        help=_("model folder to write (default {DEMO_MODEL_DIR})").format(DEMO_MODEL_DIR=DEMO_MODEL_DIR),
    )
    model.add_argument("--seed", type=int, default=defaults.seed, help=_("random seed (default %(default)s)"))
    model.add_argument(
        "--steps", type=positive_int, default=defaults.steps, help=_("optimiser steps (default %(default)s)")
    )
    model.add_argument(
        "--batch-size",
        type=positive_int,
        default=defaults.batch_size,
        help=_("pictures per step (default %(default)s)"),
    )
    model.add_argument(
        "--pool-size",
        type=positive_int,
        default=defaults.pool_size,
        help=_("training pictures drawn (default %(default)s)"),
    )
    model.add_argument(
        "--workers", type=positive_int, default=2, help=_("processes drawing pictures (default %(default)s)")
    )
    model.add_argument(
        "--vocabulary",
        type=Path,
        default=DEMO_VOCABULARY,
        help=_(
            "youtokentome bpe.model to train with (default {DEMO_VOCABULARY}; make one with demo-vocabulary)"
        ).format(DEMO_VOCABULARY=DEMO_VOCABULARY),
    )
    model.add_argument("--quiet", action="store_true", help=_("no progress bar"))

    vocabulary = commands.add_parser(
        "demo-vocabulary",
        help=_("learn a new BPE vocabulary from the demo's captions"),
        description=_(
            "youtokentome breaks ties between equally frequent pairs differently from run to run, so a "
            "new vocabulary gives a model that is as good but not bit-identical to the shipped one."
        ),
    )
    vocabulary.add_argument("--out", type=Path, default=DEMO_VOCABULARY, help=_("default %(default)s"))
    vocabulary.add_argument("--seed", type=int, default=0, help=_("seed of the caption corpus (default %(default)s)"))

    photos = commands.add_parser("demo-photos", help=_("write the demo photo collection"))
    photos.add_argument(
        "--out",
        type=Path,
        default=DEMO_PHOTOS_DIR,
        help=_("folder to write (default {DEMO_PHOTOS_DIR})").format(DEMO_PHOTOS_DIR=DEMO_PHOTOS_DIR),
    )
    photos.add_argument("--seed", type=int, default=0, help=_("random seed (default %(default)s)"))
    photos.add_argument(
        "--per-pair", type=positive_int, default=2, help=_("pictures of each colour+shape pair (default %(default)s)")
    )

    evaluate = commands.add_parser("evaluate", help=_("precision@5 of the 32 colour+shape queries on fresh pictures"))
    evaluate.add_argument(
        "model", type=Path, nargs="?", default=DEMO_MODEL_DIR, help=_("model folder (default the demo model)")
    )
    evaluate.add_argument("--seed", type=int, default=1, help=_("which fresh pictures (default %(default)s)"))
    evaluate.add_argument(
        "--per-pair", type=positive_int, default=6, help=_("pictures of each pair (default %(default)s)")
    )
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command == "demo-model":
        known = {f.name for f in fields(DemoRecipe)}
        overrides = {k: v for k, v in vars(args).items() if k in known}
        recipe = replace(DemoRecipe(), **overrides)
        report = train_demo_model(
            args.out, recipe, workers=args.workers, progress=not args.quiet, vocabulary=args.vocabulary
        )
        print(_("wrote {out}: {summary}").format(out=args.out, summary=report.summary()))
    elif args.command == "demo-vocabulary":
        size = learn_demo_vocabulary(args.out, seed=args.seed)
        print(_("wrote {out}: {size} tokens").format(out=args.out, size=size))
    elif args.command == "demo-photos":
        written = write_demo_photos(args.out, seed=args.seed, per_pair=args.per_pair)
        print(_("wrote {written} photos under {out}").format(written=len(written), out=args.out))
    else:
        report = evaluate_demo_model(args.model, args.seed, args.per_pair)
        for query, value in sorted(report.per_query.items(), key=lambda item: item[1]):
            print(f"{value:5.2f}  {query}")
        print(report.summary())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_cli(lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())
