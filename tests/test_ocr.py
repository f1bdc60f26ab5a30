"""Text in photos, end to end: the build's OCR stage (indexer/ocr.py) reads what `--ocr auto` selects
with the real Tesseract, stores it (search/store/texts.py), and a search finds the photos by their
words in other inflected forms, fused with the meaning or alone; incremental, resumable, and a
build without the engine says so in one line. The engine and the words alone: test_ocr_engine.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import search
from indexer.build import BuildOptions, build_index
from search import EmptyReason

from .helpers import fresh_picture_jpeg, indexer, text_picture

RECEIPT = ["КАССОВЫЙ ЧЕК", "Пятёрочка", "МОЛОКО 89.90", "ХЛЕБ 45.00", "ИТОГО 134.90"]
SCREENSHOT = ["Настройки сети", "Пароль от wifi", "Ласточка2024", "Расписание электричек"]
SIGN = ["УЛИЦА", "ЛЕНИНА"]


def _write_collection(photos: Path) -> None:
    (photos / "альбом").mkdir(parents=True)
    for colour, shape in (("красный", "звезда"), ("синий", "круг"), ("зелёный", "квадрат")):
        (photos / "альбом" / f"{colour}-{shape}.jpg").write_bytes(fresh_picture_jpeg(colour, shape))
    # A phone screenshot's size, a receipt's narrow shape without a camera: both read by --ocr auto.
    (photos / "Screenshot_20240101.png").write_bytes(text_picture(SCREENSHOT, (720, 1280)))
    (photos / "покупки.jpg").write_bytes(text_picture(RECEIPT, (400, 1000), ".jpg"))
    # A camera's photo of a street sign: no cheap sign of text, so auto skips it and `all` reads it.
    (photos / "альбом" / "IMG_0042.jpg").write_bytes(text_picture(SIGN, (640, 480), ".jpg", camera="Canon EOS 80D"))


def _options(index: Path, ocr: str = "auto") -> BuildOptions:
    return BuildOptions(index_dir=index, model="demo", device="cpu", workers=2, progress=False, ocr=ocr)


@pytest.fixture(scope="module")
def text_collection(tmp_path_factory) -> tuple[Path, Path, object]:
    folder = tmp_path_factory.mktemp("texts")
    photos, index = folder / "photos", folder / "index"
    _write_collection(photos)
    summary = build_index(photos, _options(index))
    return photos, index, summary


@pytest.fixture(scope="module")
def text_index(text_collection) -> search.PhotoIndex:
    return search.open_index(text_collection[1], device="cpu")


def test_auto_reads_the_screenshot_and_the_receipt_and_skips_the_camera_photos(text_collection):
    photos, index, summary = text_collection
    assert (summary.texts.read, summary.texts.with_words, summary.texts.failed) == (2, 2, 0)
    assert summary.texts.skipped == 4  # three shapes and the sign, all from a camera
    assert "text in photos: read 2 (2 with words), 4 judged textless, 0 failed" in "\n".join(summary.lines())
    assert summary.stages["ocr"].images == 2


def test_a_word_in_another_form_finds_the_photo_it_is_written_on(text_collection, text_index):
    photos = text_collection[0]
    hits = text_index.search("чеки", k=3)
    assert hits[0].path == str(photos / "покупки.jpg")
    assert hits[0].matched_words == ("ЧЕК",)
    assert "КАССОВЫЙ ЧЕК" in (hits[0].text or "")
    # A word the demo model does not know is still found on the photo: «пятерочки» (е for ё, genitive).
    found = text_index.search("пятерочки", k=3)
    assert [hit.path for hit in found][:1] == [str(photos / "покупки.jpg")]
    assert found[0].matched_words == ("Пятёрочка",)
    # A prefix of a word finds it, and a word's fleeting vowel too («электричка» for «электричек»).
    for query in ("электр", "электричка"):
        assert text_index.search(query, k=1)[0].path == str(photos / "Screenshot_20240101.png"), query


def test_quoted_words_are_looked_for_in_the_text_alone_and_must_be_there(text_collection, text_index):
    photos = text_collection[0]
    hits = text_index.search('"пароль"', k=5)
    assert [hit.path for hit in hits] == [str(photos / "Screenshot_20240101.png")]
    assert hits[0].score == 1.0 and hits[0].matched_words == ("Пароль",)
    # Meaning and words together: the quoted word filters, the rest ranks.
    mixed = text_index.search('"молоко" красная звезда', k=5)
    assert [hit.path for hit in mixed] == [str(photos / "покупки.jpg")]
    nothing = text_index.search('"ленина"', k=5)  # on the sign, which auto did not read
    assert nothing == [] and nothing.empty_reason is EmptyReason.NO_TEXT_MATCH
    assert text_index.search("ленина", k=5, ocr="only").empty_reason is EmptyReason.NO_TEXT_MATCH


def test_the_meaning_still_ranks_and_ocr_off_ignores_the_text(text_collection, text_index):
    photos = text_collection[0]
    # «красная звезда» is on no photo: the meaning alone ranks, the red star first.
    assert text_index.search("красная звезда", k=1)[0].path == str(photos / "альбом" / "красный-звезда.jpg")
    # With the photos' words, the receipt rises above the meaning's first without them.
    fused = text_index.search("красный чек", k=2)
    assert str(photos / "покупки.jpg") in [hit.path for hit in fused]
    off = text_index.search("чек", k=6, ocr="off")
    assert off.empty_reason is EmptyReason.UNKNOWN_WORDS  # the demo model does not know «чек»
    with pytest.raises(search.QueryError, match="ocr is one of"):
        text_index.search("чек", ocr="yes")


def test_the_cli_searches_the_text_and_says_which_words_matched(text_collection):
    photos, index, _ = text_collection
    table = indexer("search", "чеки", "--index", index, "--text-only", "-k", "3")
    assert table.returncode == 0, table.stderr
    assert str(photos / "покупки.jpg") in table.stdout.splitlines()[0]
    assert "words on it: ЧЕК" in table.stdout
    lines = indexer("search", "пароль", "--index", index, "--json").stdout.splitlines()
    assert json.loads(lines[0])["matched_words"] == ["Пароль"]
    none = indexer("search", '"трамвай"', "--index", index)
    assert none.returncode == 0 and none.stdout.strip() == "no photo holds these words in its text"


def test_text_is_read_once_per_content_again_when_edited_and_all_reads_what_auto_skipped(tmp_path: Path):
    photos, index = tmp_path / "photos", tmp_path / "index"
    _write_collection(photos)
    assert build_index(photos, _options(index)).texts.read == 2
    again = build_index(photos, _options(index))
    assert (again.texts.read, again.texts.skipped, again.changed_nothing) == (0, 0, True)
    # A moved photo is not read again; nor is a copy that takes a deleted photo's place; an edit is.
    (photos / "копия").mkdir()
    shutil.copyfile(photos / "покупки.jpg", photos / "копия" / "покупки.jpg")
    shutil.move(photos / "альбом" / "IMG_0042.jpg", photos / "IMG_0042.jpg")
    assert build_index(photos, _options(index)).texts.read == 0
    (photos / "покупки.jpg").unlink()
    (photos / "Screenshot_20240101.png").write_bytes(text_picture(["Кефир 3.2%", "Сметана"], (720, 1280)))
    edited = build_index(photos, _options(index))
    assert (edited.texts.read, edited.texts.copied) == (1, 1), edited.lines()
    index_now = search.open_index(index, device="cpu")
    assert index_now.search('"кефира"', k=3)[0].path == str(photos / "Screenshot_20240101.png")
    assert index_now.search('"пароль"', k=3) == []
    assert index_now.search('"чек"', k=3)[0].path == str(photos / "копия" / "покупки.jpg")
    # --ocr all reads the photos auto skipped (the sign, the shapes) and nothing read before.
    everything = build_index(photos, _options(index, "all"))
    assert (everything.texts.read, everything.texts.with_words) == (4, 1), everything.lines()
    assert index_now.search('"улицы"', k=3)[0].path == str(photos / "IMG_0042.jpg")
    # Deleted: its text is found no more.
    (photos / "IMG_0042.jpg").unlink()
    build_index(photos, _options(index, "all"))
    assert index_now.search('"ленина"', k=3).empty_reason is EmptyReason.NO_TEXT_MATCH


def test_a_build_without_the_engine_says_so_in_one_line_and_indexes_the_rest(tmp_path: Path, monkeypatch):
    photos, index = tmp_path / "photos", tmp_path / "index"
    _write_collection(photos)
    (tmp_path / "empty tessdata").mkdir()
    monkeypatch.setenv("RUPHOTO_TESSDATA", str(tmp_path / "empty tessdata"))
    run = indexer("build", photos, "--index", index, "--model", "demo", "--device", "cpu", "--quiet")
    assert run.returncode == 0, run.stderr
    said = [line for line in (run.stdout + run.stderr).splitlines() if "not read" in line]
    assert len(said) == 1 and "the text of 2 photos is not read" in said[0] and "tesseract-ocr-rus" in said[0], said
    assert "6 images searchable" in run.stdout
    quiet = search.open_index(index, device="cpu").search('"чек"', k=3)
    assert quiet.empty_reason is EmptyReason.NO_TEXT_READ
    # With the engine back, the next build reads them.
    monkeypatch.delenv("RUPHOTO_TESSDATA")
    assert build_index(photos, _options(index)).texts.read == 2
