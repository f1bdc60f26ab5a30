"""`python -m search evaluate zeroshot|fewshot|retrieval`: the parsers, the runs' set-up, the tables.

Every message this command prints is here (the inputs' own are in data.py). The inputs are read and
checked, and the model found, before torch is imported: a bad input costs no model load, and nothing
is written (no cache folder) until the model has loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..cli import add_device_option, add_precision_option, positive_int
from ..i18n import N_, _
from ..settings import MODEL_VAR, settings
from . import data

DESCRIPTION = N_("""How good a model is, with the product's own zero-shot classifier and linear probe.

  zeroshot   top-1, top-5 and mean per-class recall of class-name prompts on an image folder
  fewshot    a linear probe fitted on 1, 2, 4, 8, 16 examples per class, over several seeds
  retrieval  text→image and image→text recall@1/5/10 on a captions file (JSON Lines)

Data sets, class-name and template files: README.md, "Evaluating a model"; figures: BENCHMARKS.md.""")

MISSING_SKLEARN = N_(
    "The linear probe needs scikit-learn, an optional extra: install it with {hint} (or pip install scikit-learn)."
)
MISSING_SCIPY = N_("Flowers-102's labels are MATLAB files, read with SciPy: install it with {hint}.")
TOO_FEW = N_(
    "{folder}: {count} images, fewer than {needed} ({shots} examples per class{rest}); "
    "add images, give --train, or ask for fewer with --shots."
)
TRAIN_CLASSES = N_(
    "--train {train} has the classes {theirs}, the data set {dataset} has {ours}; give both folders the same "
    "class folders."
)
PREPARE_MISSING = N_(
    "{source}: no {file}; extract the binary release of {name} there "
    "(README.md, Evaluating a model, names the archive)."
)
PREPARE_LISTED_MISSING = N_("{list_file} lists {image}, which is not there; extract the release's images beside it.")
PREPARED = N_("{target}: {counts}; evaluate with --dataset {target}/test (fewshot: --train {target}/train).")
PREPARED_SPLIT = N_("{split} {count} images")
CACHE_LINE = N_("Image vectors: {from_cache} from the cache, {encoded} encoded{where}.")
CACHE_WHERE = N_(" (kept in {cache})")
CACHE_UNUSABLE = N_("Feature cache {cache}: {problem}; give a folder that can be written with --cache, or --no-cache.")
BAD_IMAGE = N_("{problem} Replace or remove that file; the images encoded before it are kept in the cache.")
BAD_SHOTS = N_("expected examples per class as whole numbers ≥ 1 separated by commas (1,2,4,8,16), got {text!r}")
BAD_C = N_("expected a positive number for C, got {text!r}")
MODEL_HELP = N_("published name, folder path or demo (default: ${var}, else the default model)")
CLASSES_HELP = N_(
    "class-name file (JSON: folder -> Russian name or names) or a packaged one: {names} (default: the folder names)"
)
TEMPLATES_HELP = N_("prompt templates, one per line with {{}}, or a packaged list: {names} (default: {default})")
ZEROSHOT_TITLE = N_(
    "Zero-shot classification: {images} images, {classes} classes, {prompts:g} prompts per class "
    "({ensemble}), {decoding}, {precision} on {device}"
)
ENSEMBLED = N_("ensembled")
NOT_ENSEMBLED = N_("no ensembling")
FEWSHOT_TITLE = N_(
    "Linear probe (logistic regression, C: {c}): top-1 accuracy, mean ± std over {seeds} seeds, "
    "{classes} classes, {decoding}, {precision} on {device}"
)
RETRIEVAL_TITLE = N_("Retrieval: {images} images, {captions} captions, {decoding}, {precision} on {device}")
C_ON_VALIDATION = N_("validation split")
EXACT_DECODING = N_("exact decoding")
FAST_JPEG = N_("fast JPEG path")
TABLE_HEAD = N_("data set, metric")
ROW_TOP1 = N_("{name}, top-1 accuracy")
ROW_TOP5 = N_("{name}, top-5 accuracy")
ROW_PER_CLASS = N_("{name}, mean per-class recall")
ROW_SHOTS = N_("{name}, {k} per class")
ROW_TEXT_TO_IMAGE = N_("{name}, text→image R@{k}")
ROW_IMAGE_TO_TEXT = N_("{name}, image→text R@{k}")
FIGURE = "{:.3f}"
FIGURE_SPREAD = "{:.3f} ± {:.3f}"


def _shots(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(_(BAD_SHOTS).format(text=text))
    return values


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(_(BAD_C).format(text=text))
    return value


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        help=_(MODEL_HELP).format(var=MODEL_VAR),
    )
    add_device_option(parser)
    add_precision_option(parser)
    parser.add_argument(
        "--exact-decoding",
        action="store_true",
        help=_("decode JPEGs at full size (default: the indexer's fast path, DCT-scaled to the model's resolution)"),
    )
    parser.add_argument("--batch-size", type=positive_int, default=64, help=_("images per forward pass (default 64)"))
    parser.add_argument("--workers", type=positive_int, help=_("decoding threads (default: the CPU count, at most 8)"))
    parser.add_argument(
        "--cache",
        type=Path,
        help=_(
            "where image vectors are kept between runs, so that an interrupted run resumes (default: "
            "$RUPHOTO_CACHE/evaluate)"
        ),
    )
    parser.add_argument(
        "--chunk-images",
        type=positive_int,
        default=1024,
        help=_("images per cache file: at most this much encoding is lost to a Ctrl-C (default 1024)"),
    )
    parser.add_argument("--no-cache", action="store_true", help=_("encode every image again and keep nothing"))
    parser.add_argument("--no-progress", action="store_true", help=_("no progress bar"))
    parser.add_argument("--json", action="store_true", help=_("print the figures as one JSON object"))


def add_evaluate_parser(commands: argparse._SubParsersAction) -> None:
    """`evaluate` and its three subcommands, on `python -m search`'s subparsers."""
    evaluate = commands.add_parser(
        "evaluate",
        help=_("measure a model: zero-shot and few-shot classification, image–text retrieval"),
        description=_(DESCRIPTION),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tasks = evaluate.add_subparsers(dest="task", required=True)

    zeroshot = tasks.add_parser("zeroshot", help=_("zero-shot classification of an image folder by class-name prompts"))
    zeroshot.add_argument("--dataset", type=Path, required=True, help=_("image folder: DIR/<class>/<images>"))
    zeroshot.add_argument(
        "--classes",
        help=_(CLASSES_HELP).format(names=", ".join(data.packaged_names(data.CLASSES_DIR, ".json"))),
    )
    zeroshot.add_argument(
        "--templates",
        help=_(TEMPLATES_HELP).format(
            names=", ".join(data.packaged_names(data.TEMPLATES_DIR, ".txt")), default=data.DEFAULT_TEMPLATES
        ),
    )
    zeroshot.add_argument(
        "--no-ensemble", action="store_true", help=_("one prompt per class (first name, first template), no averaging")
    )
    _common_options(zeroshot)
    zeroshot.set_defaults(run=_zeroshot)

    fewshot = tasks.add_parser("fewshot", help=_("linear probe on k examples per class (k = 1, 2, 4, 8, 16)"))
    fewshot.add_argument("--dataset", type=Path, required=True, help=_("image folder the probe is tested on"))
    fewshot.add_argument(
        "--train",
        type=Path,
        help=_(
            "image folder the examples are drawn from, with the same classes (default: drawn from "
            "--dataset, the rest tested)"
        ),
    )
    fewshot.add_argument(
        "--shots", type=_shots, default=(1, 2, 4, 8, 16), help=_("examples per class (default 1,2,4,8,16)")
    )
    fewshot.add_argument("--seeds", type=positive_int, default=3, help=_("draws of the examples per k (default 3)"))
    fewshot.add_argument(
        "--c",
        type=_positive_float,
        help=_("the probe's inverse regularisation (default: chosen on a validation split)"),
    )
    _common_options(fewshot)
    fewshot.set_defaults(run=_fewshot)

    retrieval = tasks.add_parser("retrieval", help=_("text→image and image→text recall@1/5/10 on image–caption pairs"))
    retrieval.add_argument(
        "--captions",
        type=Path,
        required=True,
        help=_('JSON Lines, one image per line: {"image": "rel/path.jpg", "captions": ["…", "…"]}'),
    )
    retrieval.add_argument(
        "--images", type=Path, help=_("folder the image paths are relative to (default: the file's)")
    )
    _common_options(retrieval)
    retrieval.set_defaults(run=_retrieval)

    from .prepare import LISTED, RELEASES

    prepare = tasks.add_parser(
        "prepare",
        help=_(
            "turn a downloaded CIFAR-10, CIFAR-100, STL-10, Oxford Pets, DTD, Food-101 or Flowers-102 "
            "into image folders"
        ),
    )
    prepare.add_argument("name", choices=sorted([*RELEASES, *LISTED]), help=_("which data set"))
    prepare.add_argument(
        "source", type=Path, help=_("the extracted release (e.g. cifar-10-batches-bin, dtd; README.md names each)")
    )
    prepare.add_argument("target", type=Path, help=_("where to write TARGET/train/<class>/ and TARGET/test/<class>/"))
    prepare.set_defaults(run=_prepare)


# ---- set-up shared by the three runs ---------------------------------------------------------------


def _load(args: argparse.Namespace):
    """The model (found before torch is imported: a missing model is one line, fast) and the encode options."""
    from ..clip.loading import load_encoder
    from .runs import EncodeOptions

    # Encoded as a build encodes (on a CPU in fp32 or int8, the ONNX Runtime towers): the figures are
    # those of the vectors an index holds, and --precision int8 measures the int8 tower a build uses.
    model = load_encoder(args.model, "image", device=args.device, precision=args.precision, download=False)
    cache = None if args.no_cache else (args.cache or settings().cache_dir / "evaluate")
    if cache is not None:  # after the model has loaded (nothing is written before), before any image is decoded
        try:
            cache.mkdir(parents=True, exist_ok=True)
            probe = cache / ".writable"
            probe.touch()
            probe.unlink()
        except OSError as exc:
            raise data.DatasetError(
                _(CACHE_UNUSABLE).format(cache=cache, problem=exc.strerror or exc), data.DatasetProblem.BAD_FILE
            ) from None
    options = EncodeOptions(
        cache_root=cache,
        fast_jpeg=not args.exact_decoding,
        batch_size=args.batch_size,
        workers=args.workers,
        chunk_images=args.chunk_images,
        progress=not args.no_progress and not args.json,
    )
    return model, options


# --precision's name of a model's precision: torch's dtypes (int8: the image tower's dynamic int8
# quantisation) and ONNX Runtime's towers.
PRECISION_NAMES = {
    "torch.float32": "fp32",
    "torch.float16": "fp16",
    "torch.bfloat16": "bf16",
    "torch.qint8": "int8",
    "fp32 (onnxruntime)": "fp32",
    "int8 (onnxruntime)": "int8",
}


def _knobs(args: argparse.Namespace, model) -> dict:
    return {
        "device": model.device.type,
        "precision": PRECISION_NAMES.get(str(model.precision), str(model.precision)),
        "decoding": _(EXACT_DECODING) if args.exact_decoding else _(FAST_JPEG),
    }


def _table(title: str, model_name: str, rows: list[tuple[str, str]]) -> str:
    """The seed's layout: a row per "data set, metric", a column per model."""
    head = (_(TABLE_HEAD), model_name)
    width = max(len(head[0]), *(len(r[0]) for r in rows))
    value_width = max(len(head[1]), *(len(r[1]) for r in rows))
    lines = [
        title,
        "",
        f"| {head[0]:<{width}} | {head[1]:>{value_width}} |",
        f"| {'-' * width} | {'-' * (value_width - 1)}: |",
    ]
    lines += [f"| {name:<{width}} | {value:>{value_width}} |" for name, value in rows]
    return "\n".join(lines)


def _cache_line(tally, options) -> str:
    where = _(CACHE_WHERE).format(cache=options.cache_root) if options.cache_root else ""
    return _(CACHE_LINE).format(from_cache=tally.from_cache, encoded=tally.encoded, where=where)


def _cache_json(tally) -> dict:
    return {"from_cache": tally.from_cache, "encoded": tally.encoded}


def _print_json(payload: dict) -> None:
    print(json.dumps(payload, ensure_ascii=False, indent=2))


def _model_label(model) -> str:
    return Path(model.name).name if "/" in model.name else model.name


# ---- the runs --------------------------------------------------------------------------------------


def _decoded(run):
    """`run`'s result; a data set's file that cannot be decoded is an input error naming it (exit 2)."""
    from ..errors import ImageLoadError

    try:
        return run()
    except ImageLoadError as exc:
        raise data.DatasetError(_(BAD_IMAGE).format(problem=exc), data.DatasetProblem.BAD_FILE) from None
    except OSError as exc:  # writing a chunk (a full disk), or a file gone while the run went on
        raise data.DatasetError(
            _(CACHE_UNUSABLE).format(cache=exc.filename or "", problem=exc.strerror or exc),
            data.DatasetProblem.BAD_FILE,
        ) from None


def _zeroshot(args: argparse.Namespace) -> int:
    folder = data.read_image_folder(args.dataset)
    phrasings = data.read_class_names(args.classes, folder.classes)
    templates = data.read_templates(args.templates)
    model, options = _load(args)
    from .runs import zeroshot

    result = _decoded(lambda: zeroshot(model, folder, phrasings, templates, options, ensemble=not args.no_ensemble))
    knobs = {**_knobs(args, model), "ensemble": not args.no_ensemble, "templates": len(templates)}
    if args.json:
        _print_json(
            {
                "task": "zeroshot",
                "model": model.name,
                "dataset": str(folder.root),
                "images": result.images,
                "classes": result.classes,
                "top1": result.top1,
                "top5": result.top5,
                "mean_per_class_recall": result.mean_per_class,
                "options": {**knobs, "prompts_per_class": result.prompts_per_class},
                "vectors": _cache_json(result.cache),
            }
        )
        return 0
    title = _(ZEROSHOT_TITLE).format(
        images=result.images,
        classes=result.classes,
        prompts=result.prompts_per_class,
        **{**knobs, "ensemble": _(ENSEMBLED) if knobs["ensemble"] else _(NOT_ENSEMBLED)},
    )
    name = folder.name
    rows = [
        (_(ROW_TOP1).format(name=name), FIGURE.format(result.top1)),
        (_(ROW_TOP5).format(name=name), FIGURE.format(result.top5)),
        (_(ROW_PER_CLASS).format(name=name), FIGURE.format(result.mean_per_class)),
    ]
    print(_table(title, _model_label(model), rows))
    print(_cache_line(result.cache, options))
    return 0


def _check_shots(folder: data.ImageFolder, shots: tuple[int, ...], same_folder: bool) -> None:
    """Every class has the examples asked for (and, drawn from the test folder, one image left to test)."""
    needed = max(shots) + (1 if same_folder else 0)
    for label, name in enumerate(folder.classes):
        count = folder.labels.count(label)
        if count < needed:
            raise data.DatasetError(
                _(TOO_FEW).format(
                    folder=folder.root / name,
                    count=count,
                    needed=needed,
                    shots=max(shots),
                    rest=_(" and one to test") if same_folder else "",
                ),
                data.DatasetProblem.TOO_FEW,
            )


def _fewshot(args: argparse.Namespace) -> int:
    from ..classify.probe import INSTALL_HINT, probe_available

    if not probe_available():
        print(_("error: {message}").format(message=_(MISSING_SKLEARN).format(hint=INSTALL_HINT)), file=sys.stderr)
        return 2
    folder = data.read_image_folder(args.dataset)
    train = data.read_image_folder(args.train) if args.train else None
    if train is not None and train.classes != folder.classes:
        raise data.DatasetError(
            _(TRAIN_CLASSES).format(
                train=train.root, theirs=", ".join(train.classes), dataset=folder.root, ours=", ".join(folder.classes)
            ),
            data.DatasetProblem.UNNAMED_CLASS,
        )
    _check_shots(train or folder, args.shots, same_folder=train is None)
    model, options = _load(args)
    from .runs import fewshot

    result = _decoded(lambda: fewshot(model, folder, train, options, shots=args.shots, seeds=args.seeds, c=args.c))
    rows = result.rows
    knobs = {**_knobs(args, model), "seeds": args.seeds, "c": args.c if args.c else _(C_ON_VALIDATION)}
    if args.json:
        _print_json(
            {
                "task": "fewshot",
                "model": model.name,
                "dataset": str(folder.root),
                "train": str(train.root) if train else None,
                "images": len(folder.files),
                "classes": len(folder.classes),
                "shots": {
                    str(row.shots): {
                        "mean": row.mean,
                        "std": row.spread,
                        "per_seed": list(row.accuracy),
                        "c": list(row.c),
                    }
                    for row in rows
                },
                "options": knobs,
                "vectors": _cache_json(result.cache),
            }
        )
        return 0
    title = _(FEWSHOT_TITLE).format(classes=len(folder.classes), **knobs)
    rows_out = [
        (
            _(ROW_SHOTS).format(name=folder.name, k=row.shots),
            FIGURE_SPREAD.format(row.mean, row.spread),
        )
        for row in rows
    ]
    print(_table(title, _model_label(model), rows_out))
    print(_cache_line(result.cache, options))
    return 0


def _retrieval(args: argparse.Namespace) -> int:
    pairs = data.read_captions(args.captions, args.images)
    model, options = _load(args)
    from .runs import retrieval

    result = _decoded(lambda: retrieval(model, pairs, options))
    knobs = _knobs(args, model)
    if args.json:
        _print_json(
            {
                "task": "retrieval",
                "model": model.name,
                "captions_file": str(pairs.source),
                "images": result.images,
                "captions": result.captions,
                "text_to_image": {f"R@{k}": v for k, v in result.text_to_image.items()},
                "image_to_text": {f"R@{k}": v for k, v in result.image_to_text.items()},
                "options": knobs,
                "vectors": _cache_json(result.cache),
            }
        )
        return 0
    title = _(RETRIEVAL_TITLE).format(images=result.images, captions=result.captions, **knobs)
    rows = [
        (_(ROW_TEXT_TO_IMAGE).format(name=pairs.name, k=k), FIGURE.format(v)) for k, v in result.text_to_image.items()
    ] + [(_(ROW_IMAGE_TO_TEXT).format(name=pairs.name, k=k), FIGURE.format(v)) for k, v in result.image_to_text.items()]
    print(_table(title, _model_label(model), rows))
    print(_cache_line(result.cache, options))
    return 0


def _scipy_available() -> bool:
    try:
        import scipy.io  # noqa: F401
    except ImportError:
        return False
    return True


def _prepare(args: argparse.Namespace) -> int:
    from ..classify.probe import INSTALL_HINT
    from .prepare import LISTED, RELEASES, link_listed, listed_images, write_image_folders

    if args.name in LISTED:
        needed = [file for files in LISTED[args.name].values() for file in files]
    else:
        release = RELEASES[args.name]
        needed = [release.names_file, *(file for files in release.splits.values() for file in files)]
        if args.name == "stl10":
            needed += [file.replace("_X", "_y") for file in needed if "_X" in file]
    for file in needed:
        if not (args.source / file).is_file():
            raise data.DatasetError(
                _(PREPARE_MISSING).format(source=args.source, file=file, name=args.name), data.DatasetProblem.MISSING
            )
    if args.name == "flowers102" and not _scipy_available():
        print(_("error: {message}").format(message=_(MISSING_SCIPY).format(hint=INSTALL_HINT)), file=sys.stderr)
        return 2
    if args.name in LISTED:  # every listed image is there before a folder is made
        for _split, _label, image, list_file in listed_images(args.name, args.source):
            if not image.is_file():
                raise data.DatasetError(
                    _(PREPARE_LISTED_MISSING).format(list_file=list_file, image=image),
                    data.DatasetProblem.MISSING_IMAGE,
                )
        counts = link_listed(args.name, args.source, args.target)
    else:
        counts = write_image_folders(args.name, args.source, args.target)
    summary = ", ".join(_(PREPARED_SPLIT).format(split=split, count=count) for split, count in counts.items())
    print(_(PREPARED).format(target=args.target, counts=summary))
    return 0
