"""The demo collection's albums are named by season and year («2023 лето»), and the photos in them
must have been taken then: the README's date filter example and the page's date range rely on it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from .helpers import REPO_ROOT

DEMO_PHOTOS = REPO_ROOT / "data" / "demo" / "photos"
EXIF_IFD, DATE_TAKEN = 0x8769, 36867  # the EXIF sub-directory and its DateTimeOriginal tag


def season_span(album: str) -> tuple[date, date]:
    """The first and last day of the season an album is named after: лето = June to August,
    осень = September to November, весна = March to May of its year, зима = December of the year
    before to the end of February of its year."""
    year_text, season = album.split(" ", 1)
    year = int(year_text)
    if season == "зима":
        end_of_february = date(year, 3, 1).toordinal() - 1
        return date(year - 1, 12, 1), date.fromordinal(end_of_february)
    first, last = {"весна": (3, 5), "лето": (6, 8), "осень": (9, 11)}[season]
    return date(year, first, 1), date.fromordinal(date(year, last + 1, 1).toordinal() - 1)


def taken_on(photo: Path) -> date:
    text = Image.open(photo).getexif().get_ifd(EXIF_IFD)[DATE_TAKEN]  # "YYYY:MM:DD HH:MM:SS"
    year, month, day = (int(part) for part in text[:10].split(":"))
    return date(year, month, day)


def albums_out_of_season(photos: Path) -> list[str]:
    """Every photo whose EXIF date lies outside its album's season, as 'album/name: date'."""
    wrong = []
    for photo in sorted(photos.rglob("*.jpg")):
        first, last = season_span(photo.parent.name)
        taken = taken_on(photo)
        if not first <= taken <= last:
            wrong.append(f"{photo.parent.name}/{photo.name}: {taken}")
    return wrong


def test_the_season_table_of_this_test_is_right():
    assert season_span("2024 зима") == (date(2023, 12, 1), date(2024, 2, 29))  # a leap year
    assert season_span("2025 зима") == (date(2024, 12, 1), date(2025, 2, 28))
    assert season_span("2023 лето") == (date(2023, 6, 1), date(2023, 8, 31))
    assert season_span("2025 весна") == (date(2025, 3, 1), date(2025, 5, 31))


def test_every_demo_photo_was_taken_in_its_albums_season():
    albums = sorted(folder.name for folder in DEMO_PHOTOS.iterdir() if folder.is_dir())
    assert albums == ["2023 лето", "2024 зима", "2025 весна"]
    assert len(list(DEMO_PHOTOS.rglob("*.jpg"))) == 64
    assert albums_out_of_season(DEMO_PHOTOS) == []


def test_the_dates_span_most_of_each_season():
    """Spread over the season, not bunched in its first weeks: a date filter has something to cut."""
    for album in DEMO_PHOTOS.iterdir():
        dates = [taken_on(photo) for photo in album.glob("*.jpg")]
        first, last = season_span(album.name)
        assert (max(dates) - min(dates)).days >= 0.8 * (last - first).days, album.name


@pytest.mark.slow
def test_the_generator_keeps_dates_in_season_for_a_larger_collection(tmp_path: Path):
    from training.demo import write_demo_photos

    written = write_demo_photos(tmp_path, seed=3, per_pair=6, size=(48, 36))  # 64 photos an album
    assert len(written) == 192
    assert albums_out_of_season(tmp_path) == []
