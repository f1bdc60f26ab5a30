"""Text in photos on the page (issue 25), driven by AppTest over a real index: the demo model's three
shapes, a receipt and a phone screenshot drawn with words, read by the build's OCR stage with the real
Tesseract. The «Текст на фото» toggle (only where some text was read), a card's «Слова на фото», the
large view's recognised text with the found words highlighted, and every «nothing found» in Russian.
What the search finds is the API's (test_ocr.py); here, that the page shows it, in Russian."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.build import BuildOptions, build_index
from ui import messages

from .helpers import fresh_picture_jpeg, text_picture
from .test_ui_app import button_of, cards, no_failure, page, russian
from .test_ui_app import search as typed

RECEIPT = ["КАССОВЫЙ ЧЕК", "Пятёрочка", "МОЛОКО 89.90", "ХЛЕБ 45.00", "ИТОГО 134.90"]
SCREENSHOT = ["Настройки сети", "Пароль от wifi", "Ласточка2024", "Расписание электричек"]
HIGHLIGHT = ":orange-background[**{}**]"


@pytest.fixture(scope="module")
def text_index(tmp_path_factory) -> Path:
    """Three shapes from a camera, a receipt and a screenshot (both read by `--ocr auto`), indexed."""
    folder = tmp_path_factory.mktemp("page-texts")
    photos, index = folder / "photos", folder / "index"
    (photos / "альбом").mkdir(parents=True)
    for colour, shape in (("красный", "звезда"), ("синий", "круг"), ("зелёный", "квадрат")):
        (photos / "альбом" / f"{colour}-{shape}.jpg").write_bytes(fresh_picture_jpeg(colour, shape))
    (photos / "Screenshot_20240101.png").write_bytes(text_picture(SCREENSHOT, (720, 1280)))
    (photos / "покупки.jpg").write_bytes(text_picture(RECEIPT, (400, 1000), ".jpg"))
    options = BuildOptions(index_dir=index, model="demo", device="cpu", workers=2, progress=False, ocr="auto")
    assert build_index(photos, options).texts.with_words == 2
    return index


def words_lines(at) -> list[str]:
    """The cards' «Слова на фото» lines, in page order."""
    return [c.value for c in at.main.caption if c.value.startswith("Слова на фото")]


def test_the_toggle_is_shown_only_where_some_photo_s_text_was_read(monkeypatch, text_index, labelled_collection):
    at = page(monkeypatch, text_index)
    no_failure(at)
    toggle = at.toggle(key="ocr_text")
    assert toggle.label == "Текст на фото" and toggle.value is True  # on by default
    said = russian(toggle.help)
    assert "скриншотах, чеках, документах" in said and "в любой форме слова" in said and '«"пароль"»' in said
    assert "Текст распознан на 2 фото: слова запроса ищутся и в нём" in [c.value for c in at.sidebar.caption]
    # The shapes' collection: no text read, no toggle; a quoted word says how to read the text.
    plain = typed(page(monkeypatch, labelled_collection.index), '"пароль"')
    assert "ocr_text" not in [t.key for t in plain.toggle]
    assert not any(c.value.startswith("Текст распознан") for c in plain.sidebar.caption)
    assert not cards(plain) and not plain.exception
    warned = russian(plain.warning[0].value)
    assert warned.startswith("Текст на фото этой коллекции не распознан")
    assert f"build /путь/к/фото --index {labelled_collection.index} --ocr auto`" in warned


def test_a_word_in_another_form_shows_the_receipt_first_with_the_words_on_it(monkeypatch, text_index):
    at = typed(page(monkeypatch, text_index), "чеки")
    no_failure(at)
    assert [name for _, name, _ in cards(at)][:1] == ["покупки.jpg"]
    assert words_lines(at) == ["Слова на фото: ЧЕК"]  # the word as the receipt writes it
    # The words with the meaning: the red star by its colour, the receipt by its word, only it with a line.
    at.text_input(key="query").input("красный чек").run()
    no_failure(at)
    assert {"покупки.jpg", "красный-звезда.jpg"} <= {name for _, name, _ in cards(at)}
    assert words_lines(at) == ["Слова на фото: ЧЕК"]
    assert at.sidebar.get("vega_lite_chart")  # the meaning ranks: its cosines, with the threshold
    # A quoted word keeps the photos holding it, the rest ranks them: the cosines of all say nothing.
    at.text_input(key="query").input('"молоко" красная звезда').run()
    assert [name for _, name, _ in cards(at)] == ["покупки.jpg"] and not at.sidebar.get("vega_lite_chart")
    at.text_input(key="query").input("пятерочки").run()  # е for ё, another case
    assert [name for _, name, _ in cards(at)][:1] == ["покупки.jpg"]
    assert words_lines(at) == ["Слова на фото: Пятёрочка"]


def test_the_large_view_shows_the_text_read_in_the_photo_with_the_found_words_highlighted(monkeypatch, text_index):
    at = typed(page(monkeypatch, text_index), '"пароль"')
    no_failure(at)
    at.button(key=button_of(at, "open-", "Screenshot_20240101.png")).click().run()
    no_failure(at)
    shown = [m.value for m in at.markdown]
    heading = shown.index("**Текст на фото**")
    text = shown[heading + 1]
    assert HIGHLIGHT.format("Пароль") in text and "Настройки сети" in text and "Ласточка2024" in text
    assert text.count(":orange-background[") == 1  # only the word the query found
    lines = text.split("  \n")
    assert len(lines) >= len(SCREENSHOT) and any(line.startswith(HIGHLIGHT.format("Пароль")) for line in lines)
    # Another word, another photo: only it highlighted, the receipt's prices shown as written.
    at = typed(page(monkeypatch, text_index), '"молоко"')
    at.button(key=button_of(at, "open-", "покупки.jpg")).click().run()
    shown = [m.value for m in at.markdown]
    receipt = shown[shown.index("**Текст на фото**") + 1]
    assert HIGHLIGHT.format("МОЛОКО") in receipt and "КАССОВЫЙ ЧЕК" in receipt and "89\\.90" in receipt
    assert receipt.count(":orange-background[") == 1


def test_the_toggle_off_searches_the_meaning_alone(monkeypatch, text_index):
    at = typed(page(monkeypatch, text_index), "чеки")
    assert cards(at)
    at.toggle(key="ocr_text").set_value(False).run()
    no_failure(at)
    assert not cards(at)
    said = russian(at.warning[0].value)  # the demo model's own sentence on the words it knows
    assert "знает только цвета и фигуры" in said and "«чеки»" in said
    at.toggle(key="ocr_text").set_value(True).run()
    assert [name for _, name, _ in cards(at)][:1] == ["покупки.jpg"]


def test_a_quoted_word_on_no_photo_is_said_in_russian(monkeypatch, text_index):
    at = typed(page(monkeypatch, text_index), '"трамвай"')
    assert not at.exception and not cards(at)
    said = russian(at.info[0].value)
    assert said.startswith("Ни на одном фото нет этих слов") and "уберите кавычки" in said


def test_what_the_page_says_of_the_text_in_photos_is_russian(monkeypatch, text_index):
    at = typed(page(monkeypatch, text_index), "пароль")
    no_failure(at)
    assert not at.sidebar.get("vega_lite_chart")  # ranked by the text alone: no cosines to show
    at.button(key=button_of(at, "open-", "Screenshot_20240101.png")).click().run()
    no_failure(at)
    shown = [m.value for m in at.markdown]
    recognised = shown[shown.index("**Текст на фото**") + 1]
    assert "wifi" in recognised  # the screenshot's own Latin word: the photo's, not the page's
    toggle = at.toggle(key="ocr_text")
    russian(" ".join([toggle.label, toggle.help, "**Текст на фото**", *words_lines(at)]))
    assert words_lines(at) == ["Слова на фото: Пароль"]


def test_the_text_of_a_photo_is_never_read_as_markdown():
    # Every ASCII punctuation mark escaped (checked in Chromium: Streamlit shows it verbatim), leading
    # spaces dropped, lines kept; only the found words are marked, each whole and as written.
    assert messages.plain_text("  *ИТОГО* _1_\n1. ----\n:cat: [x](y) $5$ ЧЕК,чек:ЧЕК", {"ЧЕК"}) == (
        "\\*ИТОГО\\* \\_1\\_  \n"
        "1\\. \\-\\-\\-\\-  \n"
        "\\:cat\\: \\[x\\]\\(y\\) \\$5\\$ :orange-background[**ЧЕК**]\\,чек\\::orange-background[**ЧЕК**]"
    )
    assert messages.plain_text("ЧЕКИ ЧЕК2 ЧЕК", {"ЧЕК"}) == "ЧЕКИ ЧЕК2 :orange-background[**ЧЕК**]"
    assert messages.matched_words(("ЧЕК", "Пятёрочка")) == "Слова на фото: ЧЕК, Пятёрочка"
