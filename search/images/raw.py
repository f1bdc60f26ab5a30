"""Camera RAW files -> an upright 8-bit RGB image with the camera's date and name, through rawpy (LibRaw).

Pixels: the camera's embedded preview when its short side is at least what the caller needs (the
model's input: fast, and the picture the camera itself rendered), otherwise LibRaw's half-size
demosaic with the camera's white balance. The preview is turned by its own EXIF orientation when it
has one, else by the RAW's (LibRaw's `sizes.flip`); the demosaic is turned by LibRaw itself.
The recorded size (`info["full_size"]`) is the RAW's full upright image size, not the preview's.

Date and camera: rawpy exposes neither the make nor the model, so they are read with Pillow from the
RAW's TIFF structure, which DNG, CR2, NEF/NRW, ARW/SRF/SR2, PEF, SRW, ERF, 3FR, DCR/KDC, IIQ, MOS and
similar TIFF-based RAWs have; ORF and RW2 are TIFF with another magic number, read the same way.
Failing that (CR3, RAF, X3F, MRW, CRW), the embedded preview JPEG's EXIF is used when it has one
(RAF's does), and the date falls back to LibRaw's own timestamp. They travel as the image's EXIF
(`info["exif"]`), so that whoever reads a JPEG's date reads a RAW's the same way.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from ..constants import EXIF_DATE, EXIF_DATE_TAKEN, EXIF_IFD, EXIF_MAKE, EXIF_MODEL, RAW_SUFFIXES
from ..errors import ImageLoadError, ImageProblem
from ..i18n import _
from .orientation import EXIF_ORIENTATION, upright

# Without a caller's need (the page, the API): a preview at least this big is good enough to show.
DEFAULT_PREVIEW_SHORT_SIDE = 1024
DNG_VERSION_TAG = 50706
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*")
# RAW formats that say so in their first bytes (the TIFF-based ones look like any TIFF).
_RAW_MAGICS = (
    (0, b"II*\x00\x10\x00\x00\x00CR"),  # Canon CR2
    (0, b"IIRO"),  # Olympus ORF
    (0, b"IIRS"),  # Olympus ORF
    (0, b"MMOR"),  # Olympus ORF
    (0, b"IIU\x00"),  # Panasonic RW2 / RWL
    (0, b"FUJIFILMCCD-RAW"),  # Fujifilm RAF
    (4, b"ftypcrx "),  # Canon CR3
    (0, b"FOVb"),  # Sigma X3F
    (0, b"\x00MRM"),  # Minolta MRW
)
# LibRaw's flip value -> the EXIF orientation it stands for (dcraw's "50132467" table, inverted).
_FLIP_TO_ORIENTATION = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}
HEAD_BYTES = 16


class RawUnavailable(Exception):
    """rawpy is not installed."""


def has_raw_magic(head: bytes) -> bool:
    """True when the first bytes are those of a RAW format with a signature of its own."""
    return any(head[offset : offset + len(magic)] == magic for offset, magic in _RAW_MAGICS)


def is_tiff(head: bytes) -> bool:
    return head[:4] in _TIFF_MAGICS


def is_raw_name(name: str) -> bool:
    return Path(name).suffix.lower() in RAW_SUFFIXES


def is_dng(image: Image.Image) -> bool:
    """A TIFF Pillow opened that is in fact a DNG (Pillow would decode only its small first IFD)."""
    tags = getattr(image, "tag_v2", None)
    return tags is not None and DNG_VERSION_TAG in tags


def open_raw(source: Path | BinaryIO, label: str, min_short_side: int | None) -> Image.Image:
    """load_raw with its errors worded: one ImageLoadError naming the file (as `label`) and the fix."""
    try:
        import rawpy
    except ImportError:
        raise ImageLoadError(
            _("{label}: a camera RAW file; install rawpy to read it (pip install rawpy).").format(label=label),
            ImageProblem.RAW_UNREADABLE,
        ) from None
    if not isinstance(source, Path):
        source.seek(0)
    try:
        return load_raw(source, min_short_side)
    except (rawpy.LibRawTooBigError, Image.DecompressionBombError) as exc:
        raise ImageLoadError(
            _("{label}: RAW image too large to decode ({exc}).").format(label=label, exc=exc), ImageProblem.TOO_LARGE
        ) from None
    except (rawpy.LibRawUnsufficientMemoryError, rawpy.LibRawMemPoolOverflowError):
        raise ImageLoadError(
            _("{label}: decoding the RAW needed more memory than allowed.").format(label=label),
            ImageProblem.OUT_OF_MEMORY,
        ) from None
    except (rawpy.LibRawError, rawpy.NotSupportedError, OSError, ValueError) as exc:
        raise ImageLoadError(
            _(
                "{label}: camera RAW that LibRaw cannot read ({name__}: {exc}); the file is damaged or its "
                "camera is newer than the installed rawpy (pip install -U rawpy)."
            ).format(label=label, name__=type(exc).__name__, exc=exc),
            ImageProblem.RAW_UNREADABLE,
        ) from None


def load_raw(source: str | Path | BinaryIO, min_short_side: int | None) -> Image.Image:
    """Decode a RAW file (rawpy errors and RawUnavailable propagate: open_raw words them)."""
    try:
        import rawpy
    except ImportError as exc:
        raise RawUnavailable(str(exc)) from None
    need = min_short_side or DEFAULT_PREVIEW_SHORT_SIDE
    opened = str(source) if isinstance(source, Path) else source
    with rawpy.imread(opened) as raw:
        flip = raw.sizes.flip
        full_size = (raw.sizes.width, raw.sizes.height)
        if _FLIP_TO_ORIENTATION.get(flip, 1) >= 5:
            full_size = full_size[::-1]
        preview, preview_exif = _preview(raw, rawpy, need, flip)
        if preview is not None:
            image = preview
        else:
            image = Image.fromarray(raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8))
        timestamp = getattr(getattr(raw, "other", None), "timestamp", None)  # rawpy ≥ 0.26: a datetime
    exif = _exif_of(source) or preview_exif
    image.info["exif"] = _facts_exif(exif, timestamp).tobytes()
    image.info["full_size"] = full_size
    return image


def _preview(raw, rawpy, need: int, flip: int) -> tuple[Image.Image | None, Image.Exif | None]:  # noqa: ANN001
    """The embedded preview, upright, if it is big enough; and its EXIF, whatever its size."""
    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError, rawpy.LibRawError):
        return None, None
    exif = None
    if thumb.format == rawpy.ThumbFormat.JPEG:
        try:
            image = Image.open(io.BytesIO(thumb.data))
            exif = image.getexif()
            if min(image.size) < need:
                return None, exif
            scale = need / min(image.size)  # DCT scaling, as for any large JPEG
            image.draft("RGB", (round(image.width * scale + 0.5), round(image.height * scale + 0.5)))
            image.load()
        except (OSError, ValueError, SyntaxError):
            return None, None
        if (own := exif.get(EXIF_ORIENTATION, 1)) not in (None, 1):
            return upright(image, own).convert("RGB"), exif
        image = image.convert("RGB")
    elif thumb.format == rawpy.ThumbFormat.BITMAP:
        image = Image.fromarray(thumb.data)
        if min(image.size) < need:
            return None, None
        image = image.convert("RGB")
    else:
        return None, None
    return upright(image, _FLIP_TO_ORIENTATION.get(flip, 1)), exif


def _exif_of(source: str | Path | BinaryIO) -> Image.Exif | None:
    """IFD0 (make, model, date) and the Exif IFD of a TIFF-based RAW, parsed by Pillow, or None."""
    try:
        if isinstance(source, str | Path):
            data = Path(source).read_bytes()
        else:
            source.seek(0)
            data = source.read()
        if data[:4] in (b"IIRO", b"IIRS", b"IIU\x00"):  # ORF, RW2: TIFF with a magic of their own
            data = b"II*\x00" + data[4:]
        elif data[:4] == b"MMOR":
            data = b"MM\x00*" + data[4:]
        if not is_tiff(data[:4]):
            return None
        exif = Image.Exif()
        exif.load(data)
        return exif
    except Exception:  # noqa: BLE001 - broken metadata costs the date, never the photo
        return None


def _facts_exif(exif: Image.Exif | None, timestamp: datetime | float | None) -> Image.Exif:
    """A small EXIF holding only the camera and the date (the RAW's own tags may not re-serialise)."""
    facts = Image.Exif()
    taken = None
    if exif is not None:
        try:
            for tag in (EXIF_MAKE, EXIF_MODEL):
                if isinstance(value := exif.get(tag), str) and value.strip("\x00 "):
                    facts[tag] = value.strip("\x00 ")
            taken = exif.get_ifd(EXIF_IFD).get(EXIF_DATE_TAKEN) or exif.get(EXIF_DATE)
        except Exception:  # noqa: BLE001
            taken = None
    if not isinstance(taken, str) and timestamp:  # LibRaw's own reading of the date, in local time
        when = timestamp if isinstance(timestamp, datetime) else datetime.fromtimestamp(timestamp)
        taken = when.strftime("%Y:%m:%d %H:%M:%S")
    if isinstance(taken, str):
        facts.get_ifd(EXIF_IFD)[EXIF_DATE_TAKEN] = taken.strip("\x00 ")
    return facts
