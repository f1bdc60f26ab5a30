"""The words in a photo, read by Tesseract 5 (rus+eng, LSTM) through tesserocr: TextReader and read_photo.

tesserocr is imported inside the functions that run the engine, never at import time: a build
without the `[ocr]` extra imports this module, asks ocr_problem(), and indexes everything but the
text. One TextReader per process holds one engine, made on first use and reused; Tesseract runs on
one thread (the build runs one reader per core in its worker processes).

What a reading depends on is engine_key(): the tesserocr release (its wheel bundles libtesseract),
the languages and their data files, the confidence floor, the word normalisation and the
preprocessing below; a change of any makes a build read the photos again. The figures behind the
choices are in BENCHMARKS.md (Text in photos).
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ImageLoadError, ImageProblem, OcrProblem, OcrUnavailableError
from ..i18n import _
from ..settings import settings
from .words import WORDS_FORMAT

if TYPE_CHECKING:
    from PIL import Image

    from ..images.decoded import Failed

LANGUAGES = "rus+eng"
# A word Tesseract is less sure of than this (0-100) is left out of the stored text: below it the
# words of the generated photos were mostly misreadings (BENCHMARKS.md).
MIN_WORD_CONFIDENCE = 60.0
# Raise when read()'s preprocessing changes what it gives for a picture.
PREPROCESS_VERSION = 1
# The longest side a picture is read at: larger ones are scaled down (text in a 12-MP photo is still
# large enough at this size, and Tesseract's time grows with the pixels), smaller ones up.
MAX_SIDE = 2560
SMALL_SIDE = 1200  # a picture whose longest side is under this is read at twice its size
# Tesseract reads lines tilted by a few degrees and nothing at 10-25°: a reading with fewer words than
# this, or less sure than SURE_CONFIDENCE, is tried again turned upright by the skew its edges'
# rows show (_skew), when that is SKEW_MIN_DEGREES or more; the reading with more words is kept.
RETRY_BELOW_WORDS = 6
SURE_CONFIDENCE = 75.0
SKEW_MAX_DEGREES = 30
SKEW_MIN_DEGREES = 2.0
SKEW_SIDE = 900  # the skew is measured on the picture scaled to this longest side
# Where Debian, Fedora/Arch and Homebrew put the language data.
SYSTEM_TESSDATA = (
    Path("/usr/share/tesseract-ocr/5/tessdata"),
    Path("/usr/share/tesseract-ocr/4.00/tessdata"),
    Path("/usr/share/tessdata"),
    Path("/opt/homebrew/share/tessdata"),
    Path("/usr/local/share/tessdata"),
)
INSTALL_HINT = "pip install 'ruphoto-search[ocr]'"
DATA_HINT = "sudo apt install tesseract-ocr-rus tesseract-ocr-eng"


@dataclass(frozen=True)
class RecognisedText:
    """What a photo says: its lines ("\\n"-joined) of the words at or above the confidence floor."""

    text: str
    confidence: float  # the mean confidence of the kept words, 0-100; 0 when none was kept
    words: int  # how many words were kept


EMPTY = RecognisedText("", 0.0, 0)


def _has_languages(folder: Path) -> bool:
    return all((folder / f"{language}.traineddata").is_file() for language in LANGUAGES.split("+"))


def tessdata_dir() -> Path | None:
    """The folder with the languages' .traineddata: the one the settings name (RUPHOTO_TESSDATA or
    TESSDATA_PREFIX, which may also name its parent), else the first system folder that has them."""
    asked = settings().tessdata_dir
    if asked is not None:
        for folder in (asked, asked / "tessdata"):
            if _has_languages(folder):
                return folder
        return None
    return next((folder for folder in SYSTEM_TESSDATA if _has_languages(folder)), None)


def ocr_problem() -> OcrUnavailableError | None:
    """Why the words in photos cannot be read here (None when they can): cheap, imports no engine."""
    if importlib.util.find_spec("tesserocr") is None:
        return OcrUnavailableError(
            _("Reading the text in photos needs Tesseract: {command}").format(command=INSTALL_HINT),
            OcrProblem.ENGINE_MISSING,
        )
    if tessdata_dir() is None:
        where = settings()
        if where.tessdata_dir is not None:
            message = _(
                "{variable}={folder} holds no rus.traineddata and eng.traineddata: {command}, or point it at "
                "the folder that has them."
            ).format(variable=where.tessdata_source, folder=where.tessdata_dir, command=DATA_HINT)
        else:
            message = _(
                "Tesseract's Russian and English data are not installed: {command}, or set RUPHOTO_TESSDATA "
                "to the folder of rus.traineddata and eng.traineddata."
            ).format(command=DATA_HINT)
        return OcrUnavailableError(message, OcrProblem.LANGUAGE_DATA_MISSING)
    return None


@functools.lru_cache(maxsize=8)
def _engine_key(folder: Path | None) -> str:
    try:
        version = importlib.metadata.version("tesserocr")
    except importlib.metadata.PackageNotFoundError:
        version = "none"
    data = "-".join(
        str((folder / f"{language}.traineddata").stat().st_size) if folder else "0" for language in LANGUAGES.split("+")
    )
    return (
        f"tesserocr {version}; {LANGUAGES} {data}; floor {MIN_WORD_CONFIDENCE:g}; "
        f"words {WORDS_FORMAT}; preprocess {PREPROCESS_VERSION}"
    )


def engine_key() -> str:
    """What a photo's recognised text depends on (a change reads every photo again): the tesserocr
    release, the languages and their data files' sizes, the floor, WORDS_FORMAT and PREPROCESS_VERSION.
    Reads package metadata and two file sizes; starts no engine."""
    return _engine_key(tessdata_dir())


def _prepared(image: Image.Image) -> Image.Image:
    """The picture as Tesseract reads it best: grayscale (transparency over white), at most MAX_SIDE,
    small pictures at twice their size."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    gray = image.convert("L")
    longest = max(gray.size)
    if longest > MAX_SIDE:
        scale = MAX_SIDE / longest
    elif longest < SMALL_SIDE:
        scale = 2.0
    else:
        return gray
    size = (max(1, round(gray.width * scale)), max(1, round(gray.height * scale)))
    return gray.resize(size, Image.LANCZOS if scale < 1 else Image.BICUBIC)


class TextReader:
    """One Tesseract engine (rus+eng, one thread), made on first use and kept for every read() of this
    process; a context manager that ends it. Not for sharing between threads."""

    def __init__(self, tessdata: Path | None = None):
        self._tessdata = tessdata
        self._api: Any = None

    def __enter__(self) -> TextReader:
        self._started()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._api is not None:
            self._api.End()
            self._api = None

    def _started(self) -> Any:
        if self._api is None:
            if problem := ocr_problem():
                raise problem
            # One thread per reader is set by the build's worker processes (indexer/ocr.py), not here:
            # changing this process's environment would reach every process it starts afterwards.
            import tesserocr

            folder = self._tessdata or tessdata_dir()
            self._api = tesserocr.PyTessBaseAPI(
                path=str(folder), lang=LANGUAGES, psm=tesserocr.PSM.AUTO, oem=tesserocr.OEM.LSTM_ONLY
            )
        return self._api

    def read(self, image: Image.Image) -> RecognisedText:
        """The words of `image` (upright, any mode) at or above MIN_WORD_CONFIDENCE, by lines."""
        api = self._started()
        prepared = _prepared(image)
        api.SetImage(prepared)
        first = _recognised(api)
        if first.words >= RETRY_BELOW_WORDS and first.confidence >= SURE_CONFIDENCE:
            return first
        angle = _skew(prepared)
        if abs(angle) < SKEW_MIN_DEGREES:
            return first
        api.SetImage(_turned(prepared, angle))
        second = _recognised(api)
        return second if (second.words, second.confidence) > (first.words, first.confidence) else first


def _skew(gray: Image.Image) -> float:
    """The angle (degrees, counter-clockwise) that makes the picture's text lines level: the one whose
    rows of edge pixels are the most uneven (lines of glyphs, gaps between), on a small copy, in 2°
    steps within ±SKEW_MAX_DEGREES, then 0.5° around the best."""
    import numpy as np
    from PIL import Image, ImageFilter

    small = gray.copy()
    small.thumbnail((SKEW_SIDE, SKEW_SIDE))
    # The filter's own border is an edge: 3 pixels are cut from each side.
    edges = np.asarray(small.filter(ImageFilter.FIND_EDGES))[3:-3, 3:-3] > 40
    if not edges.any():
        return 0.0
    mask = Image.fromarray(edges.astype(np.uint8) * 255)

    def unevenness(angle: float) -> float:
        rows = np.asarray(mask.rotate(angle, resample=Image.NEAREST)).sum(axis=1, dtype=np.float64)
        return float(np.sum(np.diff(rows) ** 2))

    coarse = max(range(-SKEW_MAX_DEGREES, SKEW_MAX_DEGREES + 1, 2), key=unevenness)
    return float(max(np.arange(coarse - 1.5, coarse + 1.6, 0.5), key=unevenness))


def _turned(gray: Image.Image, angle: float) -> Image.Image:
    """`gray` turned by `angle`, the corners filled with its median shade (no new edges to read)."""
    from PIL import Image, ImageStat

    fill = int(ImageStat.Stat(gray).median[0])
    return gray.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=fill)


def _recognised(api: Any) -> RecognisedText:
    import tesserocr

    api.Recognize()
    lines: list[list[str]] = []
    confidences: list[float] = []
    iterator = api.GetIterator()
    if iterator is None:
        return EMPTY
    level = tesserocr.RIL.WORD
    new_line = True
    while True:
        if iterator.IsAtBeginningOf(tesserocr.RIL.TEXTLINE):
            new_line = True
        word = None if iterator.Empty(level) else iterator.GetUTF8Text(level)
        confidence = iterator.Confidence(level)
        if word and word.strip() and confidence >= MIN_WORD_CONFIDENCE:
            if new_line or not lines:
                lines.append([])
                new_line = False
            lines[-1].append(word.strip())
            confidences.append(confidence)
        if not iterator.Next(level):
            break
    if not confidences:
        return EMPTY
    return RecognisedText("\n".join(" ".join(line) for line in lines), statistics.fmean(confidences), len(confidences))


def read_photo(reader: TextReader, path: str) -> RecognisedText | Failed:
    """The words of the photo at `path`, opened as the indexer opens it (search.images.load_image: any
    format, EXIF orientation applied); a file that does not decode, or an engine error on it, is a
    Failed naming the file. OcrUnavailableError (no engine or language data) is raised, not a Failed:
    it says nothing about the file."""
    from ..images.decoded import Failed
    from ..images.open import load_image

    try:
        with load_image(path) as image:
            return reader.read(image)
    except OcrUnavailableError:
        raise
    except ImageLoadError as exc:
        return Failed(path, exc.reason, str(exc))
    except MemoryError:
        return Failed(
            path,
            ImageProblem.OUT_OF_MEMORY,
            _("{path}: reading its text needed more memory than a worker may use.").format(path=path),
        )
    except OSError as exc:
        return Failed(path, ImageProblem.NOT_AN_IMAGE, f"{path}: {exc}")
    except Exception as exc:  # noqa: BLE001 - an engine error on one file must not stop the worker
        return Failed(path, ImageProblem.DECODER_ERROR, f"{path}: {type(exc).__name__}: {exc}")
