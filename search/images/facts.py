"""What the index records of a photo besides its vector: PhotoFacts, read in one place.

read_facts is the only reader: the CPU decode (decode.py) gives it the decoded image, the GPU
engine's router (device.py) Pillow's header view of the file's bytes; both pass the upright size
of the original and the content hash. A new fact is a field here and a line in read_facts; the
store's columns follow the field names (search/store/index_store.py).

No Pillow import: the scan and the planner use the content hash, and an unchanged re-run must stay light.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING

from ..constants import EXIF_DATE, EXIF_DATE_TAKEN, EXIF_IFD, EXIF_MAKE, EXIF_MODEL

if TYPE_CHECKING:
    from PIL import Image

HASH_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class PhotoFacts:
    """A photo's facts, as the index stores them (one column per field, of the same name)."""

    width: int  # upright size of the original (not of a DCT-scaled decode or a RAW's preview)
    height: int
    taken_at: datetime | None  # EXIF DateTimeOriginal, else DateTime; local time as the camera wrote it
    camera: str | None  # make and model, the make once
    content_hash: str  # file_hash of the file's bytes: finds a moved photo and identical copies


FACT_NAMES = tuple(field.name for field in fields(PhotoFacts))


def read_facts(image: Image.Image, size: tuple[int, int], content_hash: str) -> PhotoFacts:
    """The facts of an opened image (a decoded picture or only its header), whose original has
    the upright `size` and whose bytes hash to `content_hash`. Broken EXIF costs its facts, never the photo."""
    taken_at, camera = _exif_facts(image)
    width, height = size
    return PhotoFacts(width=width, height=height, taken_at=taken_at, camera=camera, content_hash=content_hash)


def _exif_facts(image: Image.Image) -> tuple[datetime | None, str | None]:
    try:
        exif = image.getexif()
        raw = exif.get_ifd(EXIF_IFD).get(EXIF_DATE_TAKEN) or exif.get(EXIF_DATE)
        make, model = (str(exif.get(tag, "")).strip("\x00 ") for tag in (EXIF_MAKE, EXIF_MODEL))
    except Exception:  # noqa: BLE001 - broken EXIF costs the metadata, never the photo
        return None, None
    taken = None
    if isinstance(raw, str):
        try:
            taken = datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:
            taken = None
    camera = model if make and model.lower().startswith(make.lower()) else " ".join(p for p in (make, model) if p)
    return taken, camera or None


def file_hash(path: str) -> str:
    """blake2b of the file's bytes: finds a renamed or moved photo without decoding it."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def bytes_hash(data: bytes) -> str:
    """file_hash of a file whose bytes are already read (blake2b is stream-invariant)."""
    digest = hashlib.blake2b(digest_size=16)
    view = memoryview(data)
    for start in range(0, len(view), HASH_CHUNK_BYTES):  # hashlib drops the GIL on each chunk
        digest.update(view[start : start + HASH_CHUNK_BYTES])
    return digest.hexdigest()
