"""The evaluation's inputs, read and checked before a model is loaded.

Formats (README.md, "Evaluating a model", shows them):
- an image folder: DIR/<class>/... image files (any suffix the indexer reads, nested folders included);
  the classes are the sub-folders, in sorted order;
- a class-name file: a JSON object {"folder name": "русское имя"} or {"folder name": ["имя", "синоним", ...]},
  the phrasings of a class averaged by prompt ensembling; a name without a file is a packaged one (cifar10);
  every folder must be named, and the file may name more classes than the folder holds (a subset of ImageNet);
- a template file: UTF-8 text, one prompt template per line with {} where the class name goes, # comments;
- a captions file: JSON Lines, one image per line: {"image": "relative/path.jpg", "captions": ["…", "…"]},
  the paths relative to the file's folder (or to --images).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..errors import RuClipError
from ..i18n import N_, _
from ..images.formats import image_suffixes

PACKAGE = Path(__file__).resolve().parent
CLASSES_DIR = PACKAGE / "classes"
TEMPLATES_DIR = PACKAGE / "templates"
DEFAULT_TEMPLATES = "ru"
SPLIT_NAMES = {"train", "test", "val", "valid", "validation"}

# Every message of the inputs' checks: what is wrong, with which file, and what to do.
NO_FOLDER = N_("{what} {path}: no such folder; check the path.")
NO_CLASSES = N_("{root}: no class folders; lay the data set out as {root}/<class>/<image files>.")
EMPTY_CLASS = N_("{folder}: no images in this class folder; add its images or remove the folder.")
NO_CLASS_FILE = N_("Class-name file {path}: no such file; give a JSON file or one of: {known}.")
BAD_CLASS_JSON = N_("Class-name file {path}: not readable JSON ({exc}); fix it.")
BAD_CLASS_FILE = N_(
    'Class-name file {path}: expected an object {{"folder": "имя"}} or {{"folder": ["имя", "синоним"]}}; fix it.'
)
UNNAMED_CLASSES = N_("Class-name file {path} names no class for the folder(s) {folders}; add them to it.")
NO_TEMPLATE_FILE = N_("Template file {path}: no such file; give a text file or one of: {known}.")
BAD_TEMPLATE_TEXT = N_("Template file {path}: not readable UTF-8 text ({exc}).")
BAD_TEMPLATE = N_("{path}:{number}: a template needs exactly one {{}} where the class name goes; fix the line.")
NO_TEMPLATES = N_("Template file {path}: no templates; write one per line, e.g. «фото: {{}}».")
NO_CAPTIONS_FILE = N_("Captions file {path}: no such file; check the path.")
BAD_CAPTIONS_TEXT = N_("Captions file {path}: not readable UTF-8 text ({exc}).")
BAD_CAPTION_LINE = N_(
    '{path}:{number}: expected {{"image": "path.jpg", "captions": ["…"]}} with at least one caption; fix the line.'
)
MISSING_IMAGE = N_("{path}:{number}: image {image} not found; fix its path (relative to {base}) or remove the line.")
NO_CAPTIONS = N_("Captions file {path}: no lines; write one JSON object per image.")


class DatasetProblem(Enum):
    """What is wrong with an evaluation input (DatasetError.reason)."""

    MISSING = "missing"  # no such file or folder
    NO_CLASSES = "no classes"  # an image folder without class sub-folders
    EMPTY_CLASS = "empty class"  # a class folder without images
    UNNAMED_CLASS = "unnamed class"  # a class folder the class-name file does not name
    BAD_FILE = "bad file"  # a class-name, template or captions file that does not parse
    MISSING_IMAGE = "missing image"  # a caption names an image that is not there
    TOO_FEW = "too few"  # fewer examples than asked for


class DatasetError(RuClipError):
    """An evaluation input that cannot be used; the message names the file and the fix."""

    def __init__(self, message: str, reason: DatasetProblem):
        super().__init__(message)
        self.reason = reason

    def __reduce__(self):
        return type(self), (str(self), self.reason)


@dataclass(frozen=True)
class ImageFolder:
    """A labelled image folder: files[i] is of class labels[i], an index into `classes` (folder names)."""

    root: Path
    classes: tuple[str, ...]
    files: tuple[Path, ...]
    labels: tuple[int, ...]

    @property
    def name(self) -> str:
        """The data set's name in tables: the folder's, with its parent's when it is a split (cifar10/test)."""
        if self.root.name.lower() in SPLIT_NAMES:
            return f"{self.root.parent.name}/{self.root.name}"
        return self.root.name


@dataclass(frozen=True)
class CaptionedImages:
    """Image–caption pairs: caption j describes files[caption_image[j]]."""

    source: Path
    files: tuple[Path, ...]
    captions: tuple[str, ...]
    caption_image: tuple[int, ...]

    @property
    def name(self) -> str:
        return self.source.stem


def _folder(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DatasetError(_(NO_FOLDER).format(what=what, path=path), DatasetProblem.MISSING)
    return path


def read_image_folder(root: Path) -> ImageFolder:
    """DIR/<class>/... -> ImageFolder; every class folder must hold at least one image."""
    root = _folder(root.expanduser(), _("Data set folder"))
    suffixes = image_suffixes()
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DatasetError(
            _(NO_CLASSES).format(root=root),
            DatasetProblem.NO_CLASSES,
        )
    files: list[Path] = []
    labels: list[int] = []
    for label, folder in enumerate(class_dirs):
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in suffixes and p.is_file())
        if not found:
            raise DatasetError(
                _(EMPTY_CLASS).format(folder=folder),
                DatasetProblem.EMPTY_CLASS,
            )
        files += found
        labels += [label] * len(found)
    return ImageFolder(root, tuple(p.name for p in class_dirs), tuple(files), tuple(labels))


def packaged_or_path(value: str, folder: Path, suffix: str) -> Path:
    """A path as given, or the packaged file of that name (`cifar10` -> classes/cifar10.json)."""
    path = Path(value).expanduser()
    packaged = folder / f"{value}{suffix}"
    if not path.exists() and "/" not in value and packaged.is_file():
        return packaged
    return path


def packaged_names(folder: Path, suffix: str) -> list[str]:
    return sorted(p.name.removesuffix(suffix) for p in folder.glob(f"*{suffix}"))


def read_class_names(value: str | None, classes: tuple[str, ...]) -> list[list[str]]:
    """The phrasings of each class: from a class-name file (or a packaged one), else its folder's name."""
    if value is None:
        return [[name.replace("_", " ")] for name in classes]
    path = packaged_or_path(value, CLASSES_DIR, ".json")
    known = ", ".join(packaged_names(CLASSES_DIR, ".json"))
    if not path.is_file():
        raise DatasetError(
            _(NO_CLASS_FILE).format(path=path, known=known),
            DatasetProblem.MISSING,
        )
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DatasetError(
            _(BAD_CLASS_JSON).format(path=path, exc=exc),
            DatasetProblem.BAD_FILE,
        ) from None
    valid = isinstance(mapping, dict) and all(
        (isinstance(v, str) and v.strip())
        or (isinstance(v, list) and v and all(isinstance(s, str) and s.strip() for s in v))
        for v in mapping.values()
    )
    if not valid:
        raise DatasetError(
            _(BAD_CLASS_FILE).format(path=path),
            DatasetProblem.BAD_FILE,
        )
    unnamed = [name for name in classes if name not in mapping]
    if unnamed:
        raise DatasetError(
            _(UNNAMED_CLASSES).format(path=path, folders=", ".join(unnamed[:5]) + (" …" if len(unnamed) > 5 else "")),
            DatasetProblem.UNNAMED_CLASS,
        )
    return [[mapping[name]] if isinstance(mapping[name], str) else list(mapping[name]) for name in classes]


def read_templates(value: str | None) -> list[str]:
    """Prompt templates, each with one {}: from a file (or a packaged one), else the packaged Russian list."""
    path = packaged_or_path(value or DEFAULT_TEMPLATES, TEMPLATES_DIR, ".txt")
    if not path.is_file():
        raise DatasetError(
            _(NO_TEMPLATE_FILE).format(path=path, known=", ".join(packaged_names(TEMPLATES_DIR, ".txt"))),
            DatasetProblem.MISSING,
        )
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(_(BAD_TEMPLATE_TEXT).format(path=path, exc=exc), DatasetProblem.BAD_FILE) from None
    templates = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.count("{}") != 1:
            raise DatasetError(
                _(BAD_TEMPLATE).format(path=path, number=number),
                DatasetProblem.BAD_FILE,
            )
        templates.append(line)
    if not templates:
        raise DatasetError(
            _(NO_TEMPLATES).format(path=path),
            DatasetProblem.BAD_FILE,
        )
    return templates


def read_captions(path: Path, images: Path | None = None) -> CaptionedImages:
    """A JSON Lines captions file -> CaptionedImages; each image must exist, each line carry a caption."""
    path = path.expanduser()
    if not path.is_file():
        raise DatasetError(_(NO_CAPTIONS_FILE).format(path=path), DatasetProblem.MISSING)
    base = _folder(images.expanduser(), _("Images folder")) if images is not None else path.parent
    files: list[Path] = []
    captions: list[str] = []
    caption_image: list[int] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(_(BAD_CAPTIONS_TEXT).format(path=path, exc=exc), DatasetProblem.BAD_FILE) from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        texts = entry.get("captions") if isinstance(entry, dict) else None
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("image"), str)
            or not isinstance(texts, list)
            or not texts
            or not all(isinstance(t, str) and t.strip() for t in texts)
        ):
            raise DatasetError(
                _(BAD_CAPTION_LINE).format(path=path, number=number),
                DatasetProblem.BAD_FILE,
            )
        image = base / entry["image"]
        if not image.is_file():
            raise DatasetError(
                _(MISSING_IMAGE).format(path=path, number=number, image=entry["image"], base=base),
                DatasetProblem.MISSING_IMAGE,
            )
        files.append(image)
        captions += texts
        caption_image += [len(files) - 1] * len(texts)
    if not files:
        raise DatasetError(
            _(NO_CAPTIONS).format(path=path),
            DatasetProblem.BAD_FILE,
        )
    return CaptionedImages(path, tuple(files), tuple(captions), tuple(caption_image))
