"""What the index records of a photo besides its vector: PhotoFacts, read in one place.

read_facts is the only reader: the CPU decode (decode.py) gives it the decoded image, the GPU
engine's router (device.py) Pillow's header view of the file's bytes; both pass the upright size
of the original and the content hash. A new fact is a field here and a line in read_facts; the
store's columns follow the field names (search/store/index_store.py).

No Pillow import: the scan and the planner use the content hash, and an unchanged re-run must stay light.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING

from ..constants import EXIF_DATE, EXIF_DATE_TAKEN, EXIF_IFD, EXIF_MAKE, EXIF_MODEL

if TYPE_CHECKING:
    from PIL import Image

HASH_CHUNK_BYTES = 1 << 20
# EXIF's GPS IFD and its tags (EXIF 2.3, section 4.6.6): a hemisphere letter and three rationals
# (degrees, minutes, seconds) per axis.
EXIF_GPS_IFD = 0x8825
GPS_LATITUDE_REF, GPS_LATITUDE, GPS_LONGITUDE_REF, GPS_LONGITUDE = 1, 2, 3, 4


@dataclass(frozen=True)
class PhotoFacts:
    """A photo's facts, as the index stores them (one column per field, of the same name)."""

    width: int  # upright size of the original (not of a DCT-scaled decode or a RAW's preview)
    height: int
    taken_at: datetime | None  # EXIF DateTimeOriginal, else DateTime; local time as the camera wrote it
    camera: str | None  # make and model, the make once
    content_hash: str  # file_hash of the file's bytes: finds a moved photo and identical copies
    # Where it was taken (EXIF GPS), in decimal degrees: north and east positive; None without GPS.
    latitude: float | None = None
    longitude: float | None = None
    # The picture's print (picture_print.py), for near-duplicate groups; None where the decode did
    # not compute one (the GPU engine's route, rows written before schema 5).
    picture_print: bytes | None = None


FACT_NAMES = tuple(field.name for field in fields(PhotoFacts))


def read_facts(image: Image.Image, size: tuple[int, int], content_hash: str) -> PhotoFacts:
    """The facts of an opened image (a decoded picture or only its header), whose original has
    the upright `size` and whose bytes hash to `content_hash`. Broken EXIF costs its facts, never the photo."""
    taken_at, camera = _exif_facts(image)
    latitude, longitude = _gps_position(image)
    width, height = size
    return PhotoFacts(
        width=width,
        height=height,
        taken_at=taken_at,
        camera=camera,
        content_hash=content_hash,
        latitude=latitude,
        longitude=longitude,
    )


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


def _gps_position(image: Image.Image) -> tuple[float | None, float | None]:
    """(latitude, longitude) from the EXIF GPS IFD, or (None, None) when it is missing, incomplete
    or out of range (a phone without a fix writes zero denominators, which Pillow reads as NaN)."""
    try:
        gps = image.getexif().get_ifd(EXIF_GPS_IFD)
        latitude = _degrees(gps.get(GPS_LATITUDE), gps.get(GPS_LATITUDE_REF), "S", limit=90.0)
        longitude = _degrees(gps.get(GPS_LONGITUDE), gps.get(GPS_LONGITUDE_REF), "W", limit=180.0)
    except Exception:  # noqa: BLE001 - broken EXIF costs the metadata, never the photo
        return None, None
    if latitude is None or longitude is None:
        return None, None
    return latitude, longitude


def _degrees(parts: object, hemisphere: object, negative: str, limit: float) -> float | None:
    """Degrees, minutes and seconds (rationals) and a hemisphere letter -> signed decimal degrees."""
    if not isinstance(parts, tuple) or len(parts) != 3:
        return None
    value = float(parts[0]) + float(parts[1]) / 60 + float(parts[2]) / 3600
    if not math.isfinite(value) or value > limit:
        return None
    letter = hemisphere.strip("\x00 ").upper() if isinstance(hemisphere, str) else ""
    return -value if letter == negative else value


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
