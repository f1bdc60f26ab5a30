"""One file -> Decoded (its facts and the model's 8-bit square) or Failed: the CPU decode of a build.

The indexer runs decode_one in its isolated worker processes (indexer/decode.py's DecodePool);
every expected problem becomes a Failed with its reason, so one bad file never stops a build.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import ImageLoadError, ImageProblem
from ..i18n import _
from .decoded import Decoded, Failed, HostSquare
from .facts import file_hash, read_facts
from .open import load_image
from .picture_print import picture_print
from .square import square_pixels

# JPEG DCT scaling keeps the short side ≥ DRAFT_FACTOR × the model's resolution. 1 (not 2) because
# measured on 12-MP photos it changes the embedding no more (see BENCHMARKS.md) and decodes in
# 54 ms instead of 80 ms: on 2 cores every decoding millisecond is taken from the encoder.
DRAFT_FACTOR = 1
# A print alone (print_one) needs only 8 × 8 cells: a JPEG is decoded at the smallest DCT scale
# that keeps this short side, whatever the model.
PRINT_DRAFT_SIDE = 64


def decode_one(path: str, resolution: int, fast_jpeg: bool = True) -> Decoded | Failed:
    """Decode one file into the model's 8-bit square; every expected problem becomes a Failed."""
    try:
        # Fast path: a large JPEG decodes at 1/2-1/8 scale (DCT scaling) with its short side kept
        # ≥ the model's resolution; the bilinear resize after it sees nearly the same pixels.
        image = load_image(path, draft_short_side=DRAFT_FACTOR * resolution if fast_jpeg else None)
        with image:
            size = image.info.get("full_size", image.size)  # not the JPEG draft's size
            facts = replace(read_facts(image, size, file_hash(path)), picture_print=picture_print(image))
            square = HostSquare(square_pixels(image, resolution))
        return Decoded(path, facts, square)
    except ImageLoadError as exc:
        return Failed(path, exc.reason, str(exc))
    except MemoryError:
        return Failed(
            path,
            ImageProblem.OUT_OF_MEMORY,
            _("{path}: decoding needed more memory than a worker may use.").format(path=path),
        )
    except OSError as exc:  # reading the bytes for the hash
        return Failed(path, ImageProblem.NOT_AN_IMAGE, f"{path}: {exc}")
    except Exception as exc:  # noqa: BLE001 - a decoder bug on one file must not stop the worker
        return Failed(path, ImageProblem.DECODER_ERROR, f"{path}: {type(exc).__name__}: {exc}")


def print_one(path: str) -> bytes | None:
    """The picture's print of one file, for a row indexed without one (its vector kept); None when
    the file cannot be decoded now (the row keeps none and the grouping judges it by its embedding)."""
    try:
        with load_image(path, draft_short_side=PRINT_DRAFT_SIDE) as image:
            return picture_print(image)
    except Exception:  # noqa: BLE001 - a file that no longer decodes costs its print, never the build
        return None
