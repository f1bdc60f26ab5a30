"""Text in photos: the word normalisation (search/ocr/words.py) on FTS5 itself, and the Tesseract reader
(search/ocr/engine.py) on generated photos of text (training/text_photos.py)."""

from __future__ import annotations

import sqlite3

import pytest

from search.ocr.words import document_of, fts_expression, matched_words, query_words, stem, words_of

# Written here, not produced by the stemmer: a word as a photo shows it, and a query in another form.
INFLECTED = [
    ("ЧЕК", "чеки"),
    ("ЧЕК", "чеков"),
    ("чеке", "чек"),
    ("паролем", "пароль"),
    ("Пароль", "пароля"),
    ("электричек", "электрички"),
    ("электричек", "электричка"),
    ("Электричка", "электричек"),
    ("остановок", "остановка"),
    ("Пятёрочка", "пятерочки"),
    ("улица", "улице"),
    ("КАССОВЫЙ", "кассового"),
    ("расписание", "расписания"),
    ("passwords", "password"),
    ("Сметана", "сметаной"),  # Snowball: «смета» and «сметан»
    ("Бананы", "бананов"),  # «бана» and «банан»
    ("КУКОЛ", "кукла"),
    ("жильцов", "жилец"),
    ("огурец", "огурцы"),
]
# Near in letters, other words: none may match.
UNRELATED = [
    ("Парламент", "пароль"),
    ("СТОЛ", "столовой"),
    ("БАНЯ", "бананов"),
    ("чай", "чек"),
    ("Чехов", "чек"),
    ("улей", "улица"),
]
NASTY = [
    '"',
    '""',
    "*",
    '"чек"*',
    "чек*",
    "(",
    ")",
    "NEAR(чек пароль)",
    "чек NEAR пароль",
    "AND",
    "OR чек",
    "NOT",
    "-чек",
    "чек -пароль",
    "^чек",
    "text:чек",
    "{text}: чек",
    "'; DROP TABLE t; --",
    "\\",
    "чек\x00пароль",
    "ё Ё e\u0301",
    "🙂 чек",
    "a b c",
    "  ",
    "",
]


def test_words_are_lowercased_with_yo_as_ye_and_split_on_anything_but_letters_and_digits():
    assert words_of("КАССОВЫЙ ЧЕК №123, Wi-Fi: «Ёлка»") == ["кассовый", "чек", "123", "wi", "fi", "елка"]
    assert words_of("ИТОГО=1 250,00") == ["итого", "1", "250", "00"]
    assert words_of("") == [] and words_of("— … !") == []
    assert words_of("в и на") == ["в", "и", "на"]  # nothing is dropped from a photo's text


def test_stems_russian_and_english_words_and_keeps_digits_and_mixed_words():
    assert stem("чеки") == stem("чек") == "чек"
    assert stem("паролем") == stem("пароль")
    assert stem("passwords") == stem("password") == "password"
    assert stem("2024") == "2024"
    assert stem("wi5") == "wi5" and stem("мир24") == "мир24"


def test_document_holds_the_stems_of_the_words():
    assert document_of("КАССОВЫЙ ЧЕК №7") == "кассов чек 7"
    assert document_of("Ёлки") == document_of("елки")


def test_query_words_drop_prepositions_conjunctions_particles_and_single_letters():
    assert query_words("скриншот с паролем от wifi") == ["скриншот", "паролем", "wifi"]
    assert query_words("чек из Пятёрочки для налоговой") == ["чек", "пятерочки", "налоговой"]
    assert query_words("the price of milk") == ["price", "milk"]
    assert query_words("я в 7 утра") == ["7", "утра"]
    assert query_words("в и на") == []


@pytest.fixture()
def photo_texts() -> sqlite3.Connection:
    """A real FTS5 table holding three photos' text as document_of stores it."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE texts USING fts5(body, tokenize = 'unicode61 remove_diacritics 0')")
    texts = {
        1: "КАССОВЫЙ ЧЕК ООО «Пятёрочка» ИТОГО 1 250,00",
        2: "Настройки Wi-Fi Пароль от wifi: qwerty123",
        3: "Расписание электричек Москва — Тверь",
    }
    db.executemany("INSERT INTO texts(rowid, body) VALUES (?, ?)", [(i, document_of(t)) for i, t in texts.items()])
    return db


def _rows(db: sqlite3.Connection, expression: str) -> set[int]:
    query = "SELECT rowid FROM texts WHERE texts MATCH ? ORDER BY bm25(texts)"
    return {row for (row,) in db.execute(query, (expression,))}


@pytest.mark.parametrize(("written", "query"), INFLECTED)
def test_a_query_in_another_form_matches_the_written_word(written: str, query: str):
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE texts USING fts5(body, tokenize = 'unicode61 remove_diacritics 0')")
    db.execute("INSERT INTO texts(rowid, body) VALUES (1, ?), (2, ?)", (document_of(f"слово {written} тут"), "другое"))
    expression = fts_expression(query_words(query), require_all=True)
    assert expression is not None
    assert _rows(db, expression) == {1}
    assert matched_words(f"слово {written} тут", [query]) == (written,)


@pytest.mark.parametrize(("written", "query"), UNRELATED)
def test_a_query_does_not_match_a_word_near_in_letters(written: str, query: str):
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE texts USING fts5(body, tokenize = 'unicode61 remove_diacritics 0')")
    db.execute("INSERT INTO texts(rowid, body) VALUES (1, ?)", (document_of(written),))
    assert _rows(db, fts_expression([query], require_all=False)) == set()
    assert matched_words(written, [query]) == ()


def test_expressions_find_the_right_rows_any_or_all_words(photo_texts: sqlite3.Connection):
    assert _rows(photo_texts, fts_expression(["чеки"], require_all=False)) == {1}
    assert _rows(photo_texts, fts_expression(query_words("пароль от вайфая"), require_all=False)) == {2}
    assert _rows(photo_texts, fts_expression(query_words("пароль от вайфая"), require_all=True)) == set()
    assert _rows(photo_texts, fts_expression(query_words("электричка в Тверь"), require_all=True)) == {3}
    assert _rows(photo_texts, fts_expression(query_words("чек электрички"), require_all=False)) == {1, 3}
    assert _rows(photo_texts, fts_expression(["распис"], require_all=False)) == {3}  # a word typed half-way
    assert _rows(photo_texts, fts_expression(["1"], require_all=False)) == {1}  # short: exact, not a prefix
    assert fts_expression(query_words("в и на"), require_all=False) is None
    assert fts_expression([], require_all=True) is None


@pytest.mark.parametrize("nasty", NASTY)
def test_any_input_gives_an_expression_fts5_accepts(photo_texts: sqlite3.Connection, nasty: str):
    for words in (query_words(nasty), [nasty], [nasty, "чек"]):
        for require_all in (False, True):
            expression = fts_expression(words, require_all)
            if expression is not None:
                _rows(photo_texts, expression)  # raises sqlite3.OperationalError on a bad expression
    assert 1 in _rows(photo_texts, fts_expression([nasty, "чек"], require_all=False))


def test_matched_words_are_as_written_in_order_and_unique():
    text = "КАССОВЫЙ ЧЕК №5\nчек оплачен. Кассир: Ёлкина. Чеки не выдаём"
    assert matched_words(text, ["чеки", "кассового"]) == ("КАССОВЫЙ", "ЧЕК", "чек", "Чеки")
    assert matched_words(text, ["елкиной"]) == ("Ёлкина",)
    assert matched_words(text, ["5"]) == ("5",)
    assert matched_words(text, ["пароль"]) == ()
    assert matched_words(text, []) == ()


# --- the reader ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reader():
    from search.ocr.engine import TextReader

    with TextReader() as started:
        yield started


def test_the_engine_and_its_language_data_are_here():
    from search.ocr.engine import engine_key, ocr_problem

    assert ocr_problem() is None
    key = engine_key()
    assert "rus+eng" in key and "tesserocr" in key


def test_an_empty_tessdata_folder_is_named_with_the_fix(tmp_path, monkeypatch):
    from search.errors import OcrProblem, OcrUnavailableError
    from search.ocr.engine import TextReader, ocr_problem

    monkeypatch.setenv("RUPHOTO_TESSDATA", str(tmp_path))
    problem = ocr_problem()
    assert isinstance(problem, OcrUnavailableError)
    assert problem.reason is OcrProblem.LANGUAGE_DATA_MISSING is problem.problem
    assert str(tmp_path) in str(problem) and "tesseract-ocr-rus" in str(problem)
    assert "\n" not in str(problem)
    with pytest.raises(OcrUnavailableError):
        TextReader().__enter__()


def test_a_screenshot_is_read_with_its_words(reader, tmp_path):
    from search.ocr.engine import read_photo
    from training.text_photos import make_text_photos

    (photo,) = make_text_photos(tmp_path, 1, seed=3, kinds=["screenshot"])
    result = read_photo(reader, str(photo.path))
    read = set(words_of(result.text))
    assert set(words_of(photo.query_word)) <= read
    drawn = words_of(photo.text)
    assert sum(word in read for word in drawn) >= 0.7 * len(drawn)
    assert 60 <= result.confidence <= 100 and result.words >= len(drawn) * 0.7


def test_a_receipt_is_found_by_another_form_of_its_item(reader, tmp_path):
    from search.ocr.engine import read_photo
    from training.text_photos import make_receipt

    make_receipt(tmp_path / "чек.jpg", ["Сметана 20% 300 г", "Хлеб бородинский"])
    result = read_photo(reader, str(tmp_path / "чек.jpg"))
    assert {"кассовый", "чек", "сметана", "хлеб"} <= set(words_of(result.text))
    assert matched_words(result.text, query_words("чеки с хлебом")) == ("ЧЕК", "ХЛЕБ")


def test_a_broken_file_is_a_failed_naming_it(reader, tmp_path):
    from search.errors import ImageProblem
    from search.images import Failed
    from search.ocr.engine import read_photo

    broken = tmp_path / "скриншот.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really" * 10)
    failed = read_photo(reader, str(broken))
    assert isinstance(failed, Failed)
    assert failed.reason is ImageProblem.NOT_AN_IMAGE and str(broken) in failed.detail


def test_the_words_of_no_text_are_none(reader):
    from PIL import Image

    result = reader.read(Image.new("RGB", (640, 480), (120, 160, 200)))
    assert (result.text, result.words, result.confidence) == ("", 0, 0.0)


def test_each_generated_photo_is_the_only_one_its_query_finds_in_the_drawn_text(tmp_path):
    """On the text drawn (no OCR): a photo's query word, in another form than written, matches its own
    text and no other photo's, for as long as the lexicon's groups last; the files are made again
    the same from the same seed."""
    from training.text_photos import KINDS, make_text_photos

    photos = make_text_photos(tmp_path / "a", 10, seed=5)
    assert [photo.kind for photo in photos[:5]] == list(KINDS)
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE texts USING fts5(body, tokenize = 'unicode61 remove_diacritics 0')")
    db.executemany(
        "INSERT INTO texts(rowid, body) VALUES (?, ?)", [(i, document_of(p.text)) for i, p in enumerate(photos)]
    )
    for row, photo in enumerate(photos):
        assert photo.query_word in photo.text and words_of(photo.query) != words_of(photo.query_word)
        expression = fts_expression(query_words(photo.query), require_all=True)
        if matched_words(photo.text, [photo.query]):  # the stemmer joins the two forms
            assert _rows(db, expression) == {row}, (photo.query, photo.query_word)
    again = make_text_photos(tmp_path / "b", 5, seed=5)
    assert all(a.path.read_bytes() == b.path.read_bytes() for a, b in zip(photos[:5], again, strict=True))


def test_no_query_of_the_lexicon_matches_another_entry_or_a_filler_line():
    from training import text_lexicon as lexicon
    from training.text_photos import SIGN_NOTES, TITLES

    entries = [entry for group in (lexicon.SCREEN, lexicon.PRODUCTS, lexicon.SIGNS) for entry in group]
    fixed = ["ООО КАССОВЫЙ ЧЕК ПРИХОД ИТОГО СПАСИБО ЗА ПОКУПКУ!", "Список покупок", "УЛИЦА"]
    fillers = [*lexicon.FILLER_SCREEN, *lexicon.FILLER_PRODUCTS, *lexicon.SHOPS, *TITLES, *SIGN_NOTES, *fixed]
    for entry in entries:
        assert entry.written in entry.line and entry.queries
        for query in entry.queries:
            assert not [other.line for other in entries if other is not entry and matched_words(other.line, [query])]
            assert not [line for line in fillers if matched_words(line, [query])], query


def test_the_ocr_modules_import_no_engine_no_pillow_no_numpy_no_torch():
    import subprocess
    import sys

    from .helpers import REPO_ROOT

    code = (
        "import sys, search.ocr, search.ocr.words, search.ocr.engine; "
        "search.ocr.engine.ocr_problem(); search.ocr.engine.engine_key(); search.ocr.words.document_of('чек'); "
        "print(sorted({'tesserocr', 'PIL', 'numpy', 'torch'} & set(sys.modules)))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
