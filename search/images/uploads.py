"""An uploaded example picture -> a small upright image for the model, decoded with bounded memory.

The page runs on a shared server and an upload is anybody's file: a 11 KB PNG can declare 88
million pixels (Pillow's decompression-bomb check stops only above 89 MP) and decode to gigabytes.
So the size is read from the header and an image over MAX_UPLOAD_PIXELS is refused before anything
is decoded; a JPEG is decoded at 1/2..1/8 scale by the DCT itself (Image.draft); anything else is
decoded once at full size and reduced at once, to a short side of UPLOAD_SCALE × the model's input.
Steps that would copy the whole picture (Pillow premultiplies alpha before reducing) go band by
band, so at most one full decode is held, plus one band: about 5 bytes a pixel, 250 MB at the cap.

The indexer's load_image is left as it is: it reads the user's own files, in worker processes.
"""

from __future__ import annotations

from typing import BinaryIO

from PIL import Image

from ..errors import ImageLoadError, ImageProblem
from ..i18n import _
from . import raw
from .formats import ensure_optional_formats
from .open import HIGH_BIT_DEPTH_MODES, load_image, to_8bit
from .orientation import orientation_of, upright

MAX_UPLOAD_PIXELS = 50_000_000  # 50 MP: any phone's photo (48 MP sensors) fits; a 4-byte decode is 200 MB
UPLOAD_SCALE = 2  # short side kept: twice the model's input, so its centre crop is still resized down


class UploadTooLarge(ImageLoadError):
    """An upload with more pixels than the page decodes; it carries both counts for the message
    (`pixels` is 0 when Pillow refused the header as a decompression bomb before telling it)."""

    def __init__(self, name: str, pixels: int, limit: int = MAX_UPLOAD_PIXELS):
        size = _("{value:.0f} megapixels").format(value=pixels / 1000000.0) if pixels else _("too many pixels")
        super().__init__(
            _("{name}: {size}, the page decodes at most {value:.0f}.").format(
                name=name, size=size, value=limit / 1000000.0
            ),
            ImageProblem.TOO_LARGE,
        )
        self.name, self.pixels, self.limit = name, pixels, limit

    def __reduce__(self):
        return type(self), (self.name, self.pixels, self.limit)


def _is_camera_raw(upload: BinaryIO, name: str) -> bool:
    if raw.is_raw_name(name):
        return True
    position = upload.tell()
    head = upload.read(raw.HEAD_BYTES)
    upload.seek(position)
    return raw.has_raw_magic(head)


def decode_upload(upload: BinaryIO, name: str, short_side: int, max_pixels: int = MAX_UPLOAD_PIXELS) -> Image.Image:
    """The upload, upright, in L, LA, RGB or RGBA, its short side at most UPLOAD_SCALE × `short_side`.

    Raises UploadTooLarge above `max_pixels` (before decoding), ImageLoadError for anything else
    that is not a readable picture; both name the file as `name`.
    """
    ensure_optional_formats()
    target = UPLOAD_SCALE * short_side
    if _is_camera_raw(upload, name):
        # The camera's preview when it is big enough, else a half-size demosaic: never the full sensor.
        return _shrunk(load_image(upload, draft_short_side=target), target)
    try:
        with Image.open(upload) as image:
            # A JPEG decodes at 1/2..1/8 scale, both sides staying ≥ target; a HEIC may pick an embedded
            # thumbnail that large; other formats ignore it.
            image.draft(image.mode, (target, target))
            if image.width * image.height > max_pixels:
                raise UploadTooLarge(name, image.width * image.height, max_pixels)
            orientation = orientation_of(image)  # read now: the reduced picture has no EXIF of its own
            image.load()
            small = _shrunk(image, target)
    except ImageLoadError:
        raise
    except Image.DecompressionBombError:  # over 2 × Pillow's limit: refused by Image.open itself
        raise UploadTooLarge(name, 0, max_pixels) from None
    except MemoryError:
        raise ImageLoadError(
            _("{name}: out of memory while decoding.").format(name=name), ImageProblem.OUT_OF_MEMORY
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageLoadError(_("{name}: not a readable image ({exc}).").format(name=name, exc=exc)) from None
    return upright(small, orientation)


def _shrunk(image: Image.Image, target: int) -> Image.Image:
    """A loaded image -> one with its short side at most `target`, in L, LA, RGB or RGBA."""
    if image.mode == "1":
        image = image.convert("L")  # single bits cannot be averaged; Pillow holds both at a byte a pixel
    elif image.mode in ("P", "PA"):  # nor can palette indices: to colours first
        transparent = image.mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if transparent else "RGB")
    elif image.mode in HIGH_BIT_DEPTH_MODES and image.mode not in ("I", "F"):
        image = image.convert("I")  # Pillow reduces 32-bit integers, not 16-bit ones
    image = _reduced(image, max(1, min(image.size) // target))
    if image.mode in HIGH_BIT_DEPTH_MODES:
        image = to_8bit(image)  # on the small image: to_8bit works in float64
    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGB")  # CMYK, YCbCr, LAB: small by now
    if min(image.size) > target:  # the integer reduction leaves up to 2× too much: finish smoothly
        scale = target / min(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def _reduced(image: Image.Image, factor: int) -> Image.Image:
    """Box-averaged by an integer factor; with alpha band by band (Image.reduce would first copy the
    whole picture premultiplied), so the full-size picture is never held twice."""
    if factor == 1:
        return image
    if image.mode not in ("LA", "RGBA"):
        return image.reduce(factor)
    return Image.merge(image.mode, [image.getchannel(band).reduce(factor) for band in range(len(image.getbands()))])
