"""`python -m search`: list the ruCLIP models and fetch one ahead of time.

python -m search models                                  # published names, which are cached
python -m search download ruclip-vit-large-patch14-336   # into the Hugging Face cache ($HF_HOME)
python -m search check /path/to/folder                   # load a folder and report what it is
python -m search evaluate zeroshot --model demo --dataset DIR   # how good a model is (see --help)
"""

from __future__ import annotations

import argparse
import sys

from .cli import CliParser, add_device_option, run_cli
from .clip.config import PUBLISHED_CONFIGS
from .clip.hub import requested_model, resolve_model
from .constants import DEFAULT_MODEL, DEMO_MODEL
from .errors import RuClipError
from .evaluate.cli import add_evaluate_parser
from .settings import MODEL_VAR


def _models(_: argparse.Namespace) -> int:
    labels = {name: name + (" (default)" if name == DEFAULT_MODEL else "") for name in PUBLISHED_CONFIGS}
    width = max(len(label) for label in labels.values())
    print(f"{'model':{width}} {'px':>4}  status")
    for name, config in PUBLISHED_CONFIGS.items():
        try:
            status = f"cached: {resolve_model(name, download=False)}"
        except RuClipError:
            status = "not downloaded"
        print(f"{labels[name]:{width}} {config.image_resolution:>4}  {status}")
    try:
        demo_status = f"offline demo (colours and shapes only): {resolve_model(DEMO_MODEL, download=False)}"
    except RuClipError as exc:
        demo_status = str(exc)
    print(f"{DEMO_MODEL:{width}} {'64':>4}  {demo_status}")
    print(f"\nThe default is {requested_model(None)} (set {MODEL_VAR} or --model to change it).")
    return 0


def _download(args: argparse.Namespace) -> int:
    folder = resolve_model(args.model, download=True)
    print(f"{requested_model(args.model)} is ready in {folder}")
    return 0


def _check(args: argparse.Namespace) -> int:
    resolve_model(args.model, download=False)  # a missing model is said before torch takes seconds to import
    from .clip.encoder import load_model  # imports torch: only for this command

    model = load_model(args.model, device=args.device, download=False)
    config = model.config
    print(
        f"{model.name}: ViT {config.vision_layers}×{config.vision_width} patch {config.vision_patch_size} "
        f"at {config.image_resolution}px, text {config.transformer_layers}×{config.transformer_width}, "
        f"embed_dim {config.embed_dim}, on {model.device}"
    )
    vectors = model.encode_texts(["рыжий кот спит на подоконнике"])
    print(f"encoded a test query into a unit vector of {vectors.shape[1]} numbers: the checkpoint works.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="python -m search", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("models", help="list the published ruCLIP models and which are cached").set_defaults(
        run=_models
    )
    download = commands.add_parser("download", help="download a published model into the local cache")
    download.add_argument("model", nargs="?", help=f"published name (default: ${MODEL_VAR} or {DEFAULT_MODEL})")
    download.set_defaults(run=_download)
    check = commands.add_parser("check", help="load a model (name or folder, no download) and encode a test query")
    check.add_argument("model", nargs="?", help="published name or folder path")
    add_device_option(check)
    check.set_defaults(run=_check)
    add_evaluate_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: args.run(args))


if __name__ == "__main__":
    sys.exit(main())
