"""Where a photo was taken: the EXIF GPS position read at decoding, stored, and returned in each Hit."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

import search
from indexer.build import BuildOptions, build_index
from search.images.decode import decode_one

GPS_IFD = 0x8825  # EXIF 2.3's GPS IFD: 1/3 hemisphere letters, 2/4 (degrees, minutes, seconds)


def photo_at(path: Path, colour: str, gps: dict[int, object] | None) -> Path:
    exif = Image.Exif()
    if gps is not None:
        exif.get_ifd(GPS_IFD).update(gps)
    Image.new("RGB", (80, 60), colour).save(path, exif=exif)
    return path


# Moscow's Red Square and Rio de Janeiro's Christ the Redeemer, as a phone writes them.
MOSCOW = {1: "N", 2: (55.0, 45.0, 21.0), 3: "E", 4: (37.0, 37.0, 4.0)}
RIO = {1: "S", 2: (22.0, 57.0, 7.2), 3: "W", 4: (43.0, 12.0, 38.4)}


@pytest.mark.parametrize(
    ("gps", "expected"),
    [
        (MOSCOW, (55 + 45 / 60 + 21 / 3600, 37 + 37 / 60 + 4 / 3600)),
        (RIO, (-(22 + 57 / 60 + 7.2 / 3600), -(43 + 12 / 60 + 38.4 / 3600))),
        (None, (None, None)),
        # No fix: zero denominators (Pillow reads NaN); half a position; a latitude past the pole.
        ({1: "N", 2: (IFDRational(0, 0),) * 3, 3: "E", 4: (IFDRational(0, 0),) * 3}, (None, None)),
        ({1: "N", 2: (55.0, 45.0, 21.0)}, (None, None)),
        ({1: "N", 2: (95.0, 0.0, 0.0), 3: "E", 4: (37.0, 0.0, 0.0)}, (None, None)),
    ],
)
def test_the_position_is_read_from_exif_gps(tmp_path: Path, gps, expected):
    decoded = decode_one(str(photo_at(tmp_path / "photo.jpg", "red", gps)), 64)
    position = (decoded.facts.latitude, decoded.facts.longitude)
    if expected[0] is None:
        assert position == (None, None)
    else:
        assert position == pytest.approx(expected, abs=1e-9)


def test_a_hit_says_where_its_photo_was_taken(tmp_path: Path):
    photos = tmp_path / "photos"
    photos.mkdir()
    photo_at(photos / "moscow.jpg", "red", MOSCOW)
    photo_at(photos / "nowhere.jpg", "blue", None)
    index_dir = tmp_path / "index"
    build_index(photos, BuildOptions(index_dir=index_dir, model="demo", device="cpu", workers=1, progress=False))

    hits = {Path(hit.path).name: hit for hit in search.open_index(index_dir, device="cpu").search("красный", k=2)}
    assert (hits["moscow.jpg"].latitude, hits["moscow.jpg"].longitude) == pytest.approx((55.75583, 37.61778), abs=1e-5)
    assert (hits["nowhere.jpg"].latitude, hits["nowhere.jpg"].longitude) == (None, None)
