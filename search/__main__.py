"""`python -m search`: list the ruCLIP models and fetch one ahead of time (the commands: EXAMPLES)."""

from __future__ import annotations

import argparse
import sys

from .cli import CliParser, add_device_option, run_cli
from .clip.config import PUBLISHED_CONFIGS
from .clip.hub import requested_model, resolve_model
from .constants import DEFAULT_MODEL, DEMO_MODEL
from .errors import RuClipError
from .evaluate.cli import add_evaluate_parser
from .i18n import N_, _
from .settings import MODEL_VAR

EXAMPLES = N_("""`python -m search`: list the ruCLIP models and fetch one ahead of time.

python -m search models                                  # published names, which are cached
python -m search download ruclip-vit-large-patch14-336   # into the Hugging Face cache ($HF_HOME)
python -m search check /path/to/folder                   # load a folder and report what it is
python -m search evaluate zeroshot --model demo --dataset DIR   # how good a model is (see --help)
""")  # --help's text, translated where shown


def _models(_args: argparse.Namespace) -> int:
    default = _(" (default)")
    labels = {name: name + (default if name == DEFAULT_MODEL else "") for name in PUBLISHED_CONFIGS}
    width = max(len(label) for label in labels.values())
    model, status = _("model"), _("status")
    print(f"{model:{width}} {'px':>4}  {status}")
    for name, config in PUBLISHED_CONFIGS.items():
        try:
            status = _("cached: {folder}").format(folder=resolve_model(name, download=False))
        except RuClipError:
            status = _("not downloaded")
        print(f"{labels[name]:{width}} {config.image_resolution:>4}  {status}")
    try:
        demo_status = _("offline demo (colours and shapes only): {DEMO_MODEL}").format(
            DEMO_MODEL=resolve_model(DEMO_MODEL, download=False)
        )
    except RuClipError as exc:
        demo_status = str(exc)
    print(f"{DEMO_MODEL:{width}} {'64':>4}  {demo_status}")
    print(
        _("\nThe default is {value} (set {MODEL_VAR} or --model to change it).").format(
            value=requested_model(None), MODEL_VAR=MODEL_VAR
        )
    )
    return 0


def _download(args: argparse.Namespace) -> int:
    folder = resolve_model(args.model, download=True)
    print(_("{model} is ready in {folder}").format(model=requested_model(args.model), folder=folder))
    return 0


def _check(args: argparse.Namespace) -> int:
    resolve_model(args.model, download=False)  # a missing model is said before torch takes seconds to import
    from .clip.encoder import load_model  # imports torch: only for this command

    model = load_model(args.model, device=args.device, download=False)
    config = model.config
    print(
        _(
            "{name}: ViT {vision_layers}×{vision_width} patch {vision_patch_size} at "
            "{image_resolution}px, text {transformer_layers}×{transformer_width}, embed_dim "
            "{embed_dim}, on {device}"
        ).format(
            name=model.name,
            vision_layers=config.vision_layers,
            vision_width=config.vision_width,
            vision_patch_size=config.vision_patch_size,
            image_resolution=config.image_resolution,
            transformer_layers=config.transformer_layers,
            transformer_width=config.transformer_width,
            embed_dim=config.embed_dim,
            device=model.device,
        )
    )
    vectors = model.encode_texts(["рыжий кот спит на подоконнике"])
    print(
        _("encoded a test query into a unit vector of {value} numbers: the checkpoint works.").format(
            value=vectors.shape[1]
        )
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="python -m search", description=_(EXAMPLES), formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("models", help=_("list the published ruCLIP models and which are cached")).set_defaults(
        run=_models
    )
    download = commands.add_parser("download", help=_("download a published model into the local cache"))
    download.add_argument(
        "model",
        nargs="?",
        help=_("published name (default: ${MODEL_VAR} or {DEFAULT_MODEL})").format(
            MODEL_VAR=MODEL_VAR, DEFAULT_MODEL=DEFAULT_MODEL
        ),
    )
    download.set_defaults(run=_download)
    check = commands.add_parser("check", help=_("load a model (name or folder, no download) and encode a test query"))
    check.add_argument("model", nargs="?", help=_("published name or folder path"))
    add_device_option(check)
    check.set_defaults(run=_check)
    add_evaluate_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: args.run(args))


if __name__ == "__main__":
    sys.exit(main())
