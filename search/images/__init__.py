"""Image files -> pictures, photo facts and the model's squares: every decode of the project.

    formats.py      which suffixes the scan looks for (Pillow's registry and its plugins, camera RAW),
                    cached per installation; the HEIC/AVIF plugins registered (no Pillow import to read the cache)
    open.py         load_image: any file -> an upright 8-bit picture (Pillow, bomb check, RAW hand-off)
    raw.py          camera RAW through rawpy (LibRaw): preview or half-size demosaic, date and camera
    orientation.py  the EXIF orientation table and the one way to turn a picture upright
    facts.py        PhotoFacts (size, date, camera, content hash) and read_facts, their one reader (no Pillow)
    picture_print.py  the picture's print (8 × 8 colour cells) the near-duplicate groups compare
    square.py       the reference's centre square: picture -> uint8 (R, R, 3)
    decoded.py      Decoded (facts + HostSquare | DeviceSquare) and Failed (an ImageProblem)
    decode.py       decode_one: path -> Decoded | Failed, the CPU decode the indexer's workers run
    device.py       JPEGs decoded, turned and squared on a torch device (nvJPEG): the GPU engine's decode
    uploads.py      the page's reduced decode of an uploaded picture, under a pixel cap
    thumbnails.py   thumbnails and previews rendered as JPEG bytes

Names are imported on first use: a decoding worker and an unchanged re-run import no torch, and
reading the cached suffixes imports no Pillow; device.py (imported by name) needs torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

_EXPORTS = {
    "image_suffixes": "formats",
    "register_optional_formats": "formats",
    "load_image": "open",
    "PhotoFacts": "facts",
    "read_facts": "facts",
    "file_hash": "facts",
    "center_square": "square",
    "square_pixels": "square",
    "Decoded": "decoded",
    "DeviceSquare": "decoded",
    "Failed": "decoded",
    "HostSquare": "decoded",
    "decode_one": "decode",
    "MAX_UPLOAD_PIXELS": "uploads",
    "UploadTooLarge": "uploads",
    "decode_upload": "uploads",
    "PREVIEW_PX": "thumbnails",
    "THUMBNAIL_PX": "thumbnails",
    "jpeg_of": "thumbnails",
    "render_jpeg": "thumbnails",
}
__all__ = [
    "Decoded",
    "DeviceSquare",
    "Failed",
    "HostSquare",
    "MAX_UPLOAD_PIXELS",
    "PREVIEW_PX",
    "PhotoFacts",
    "THUMBNAIL_PX",
    "UploadTooLarge",
    "center_square",
    "decode_one",
    "decode_upload",
    "file_hash",
    "image_suffixes",
    "jpeg_of",
    "load_image",
    "read_facts",
    "register_optional_formats",
    "render_jpeg",
    "square_pixels",
]

__getattr__ = lazy_exports(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from .decode import decode_one
    from .decoded import Decoded, DeviceSquare, Failed, HostSquare
    from .facts import PhotoFacts, file_hash, read_facts
    from .formats import image_suffixes, register_optional_formats
    from .open import load_image
    from .square import center_square, square_pixels
    from .thumbnails import PREVIEW_PX, THUMBNAIL_PX, jpeg_of, render_jpeg
    from .uploads import MAX_UPLOAD_PIXELS, UploadTooLarge, decode_upload
