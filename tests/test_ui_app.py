"""The Streamlit page, driven by streamlit.testing.v1.AppTest over a real index built with the demo
model: every flow the user has (states, text, examples, Похожие, upload, combined, filters, large
view) is checked on what the page shows, with the photos' colours and shapes known to the test."""

from __future__ import annotations

import io
import re
import shlex
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from indexer.build import BuildOptions, build_index
from search.commands import indexer_command
from search.store import IndexStore
from search.testing import write_synthetic_index

from .helpers import REPO_ROOT, fresh_picture_jpeg, indexer, make_labelled_collection, page_when_loaded

APP = REPO_ROOT / "ui" / "app.py"
CARD = re.compile(r"^\*\*(-?\d+\.\d\d)\*\* · `(.+?)` · (\S+)$")
CODE_SPAN = re.compile(r"`[^`]*`")


def page(monkeypatch, index: Path) -> AppTest:
    monkeypatch.setattr(sys, "argv", [str(APP), "--index", str(index), "--device", "cpu"])
    return page_when_loaded(AppTest.from_file(str(APP), default_timeout=120).run())


def cards(at: AppTest) -> list[tuple[float, str, str]]:
    """(score, file name, date) of each result card, in page order."""
    found = [CARD.match(m.value) for m in at.markdown]
    return [(float(m[1]), m[2], m[3]) for m in found if m]


def search(at: AppTest, text: str) -> AppTest:
    return at.text_input(key="query").input(text).run()


def button_of(at: AppTest, prefix: str, name: str) -> str:
    """The key of a card's button ("open-17") for the card showing `name`."""
    ids = [int(b.key.split("-")[1]) for b in at.button if b.key and b.key.startswith(prefix)]
    order = [n for _, n, _ in cards(at)]
    return f"{prefix}{ids[order.index(name)]}"


def no_failure(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def russian(text: str) -> str:
    """`text`, asserted to be Russian: no Latin word outside `code` spans (paths, commands)."""
    words = re.findall(r"[A-Za-z]{2,}", CODE_SPAN.sub("", text))
    assert re.search("[а-яё]{3,}", text) and not words, text
    return text


def test_no_index_shows_the_command_that_builds_one(monkeypatch, tmp_path):
    index = tmp_path / "index"
    at = page(monkeypatch, index)
    no_failure(at)
    assert str(index) in at.info[0].value
    commands = [c.value for c in at.code]
    demo_command = next(c for c in commands if "--model demo" in c)
    # The command the page shows is the one that works: run it, and the page becomes a search page.
    program = shlex.split(indexer_command())  # .venv/bin/ruphoto, ruphoto, or this Python's -m indexer
    argv = shlex.split(demo_command)
    assert argv[: len(program)] == program and argv[len(program)] == "build"
    assert shutil.which(program[0]) or (REPO_ROOT / program[0]).is_file()  # a program that is there
    built = indexer(*argv[len(program) :])  # its main() in this process, from the repository root as the page says
    assert built.returncode == 0, built.stderr
    page_when_loaded(at.run())
    no_failure(at)
    assert not at.info
    assert at.text_input(key="query").value == ""
    assert any(b.key == "example-красная звезда" for b in at.button)


def test_a_first_build_still_running_says_so(monkeypatch, tmp_path):
    IndexStore(tmp_path, create=True)  # the database exists, no batch is committed yet
    at = page(monkeypatch, tmp_path)
    no_failure(at)
    assert "ещё строится" in at.info[0].value


def test_an_index_whose_model_is_gone_is_a_clear_error(monkeypatch, tmp_path):
    vectors = np.eye(4, 8, dtype=np.float32)
    write_synthetic_index(tmp_path, vectors, model_name=str(tmp_path / "moved-model"), fingerprint="0" * 64)
    at = page(monkeypatch, tmp_path)
    assert not at.exception
    shown = russian(at.error[0].value)
    assert f"Папки с моделью `{tmp_path / 'moved-model'}`" in shown and "Верните папку на место" in shown


def test_a_damaged_index_is_said_in_russian_with_the_file_and_the_way_back(monkeypatch, tmp_path):
    write_synthetic_index(tmp_path, np.eye(4, 8, dtype=np.float32), model_name="demo", fingerprint="0" * 64)
    database = tmp_path / "index.sqlite"
    with database.open("r+b") as handle:  # cut short mid-page, as a full disk or a crash would leave it
        handle.truncate(database.stat().st_size - 100)
    at = page(monkeypatch, tmp_path)
    assert not at.exception
    shown = russian(at.error[0].value)
    assert f"Файл индекса `{database}` повреждён" in shown
    assert f"`{indexer_command()} backup`" in shown and f"--index {tmp_path}`" in shown


def test_empty_query_offers_examples_and_an_example_searches(monkeypatch, labelled_collection):
    at = page(monkeypatch, labelled_collection.index)
    no_failure(at)
    assert not cards(at)
    at.button(key="example-красная звезда").click().run()
    no_failure(at)
    assert at.text_input(key="query").value == "красная звезда"
    assert {name for _, name, _ in cards(at)[:2]} == labelled_collection.names_labelled("красный", "звезда")


@pytest.mark.parametrize(
    ("query", "colour", "shape"),
    [("синий круг", "синий", "круг"), ("жёлтая звезда", "жёлтый", "звезда"), ("зелёный квадрат", "зелёный", "квадрат")],
)
def test_a_text_query_shows_the_right_photos_first(monkeypatch, labelled_collection, query, colour, shape):
    at = search(page(monkeypatch, labelled_collection.index), query)
    no_failure(at)
    shown = cards(at)
    # Two photos of each colour and shape exist; the demo model (precision@5 0.94) puts both in the first three.
    assert labelled_collection.names_labelled(colour, shape) <= {name for _, name, _ in shown[:3]}
    scores = [score for score, _, _ in shown]
    assert scores == sorted(scores, reverse=True)
    assert len(at.image) == len(shown)  # each card has its thumbnail


def test_weak_matches_are_called_so_and_the_threshold_decides(monkeypatch, labelled_collection):
    # Blue things that are not circles: the demo model's best scores stay near 0.4, under a 0.6 threshold.
    at = search(page(monkeypatch, labelled_collection.index), "синий − круг")
    at.slider(key="min_score").set_value(0.6).run()
    no_failure(at)
    assert not cards(at)
    assert "Уверенных совпадений нет" in at.warning[0].value
    at.slider(key="min_score").set_value(0.0).run()
    assert cards(at) and not at.warning


def test_similar_shows_photos_like_the_chosen_one_without_it(monkeypatch, labelled_collection):
    at = search(page(monkeypatch, labelled_collection.index), "красная звезда")
    first = cards(at)[0][1]
    at.button(key=button_of(at, "similar-", first)).click().run()
    no_failure(at)
    assert any(first in m.value and "Ищу похожие" in m.value for m in at.markdown)
    # «Похожие» searches by the photo alone: the old words leave the box instead of refining it unseen.
    assert at.text_input(key="query").value == ""
    names = [name for _, name, _ in cards(at)]
    assert first not in names
    label = labelled_collection.label_of[first]
    assert labelled_collection.label_of[names[0]] == label  # the other red star
    assert all(labelled_collection.label_of[n][0] == label[0] for n in names[:3])  # then red things

    # Words refine the example: the same picture + «синий» brings blue photos first.
    at.text_input(key="query").input("синий").run()
    combined = [name for _, name, _ in cards(at)]
    assert all(labelled_collection.label_of[n][0] == "синий" for n in combined[:2])
    assert first not in combined

    at.button(key="clear-example").click().run()
    assert not any("Ищу похожие" in m.value for m in at.markdown)


def test_the_large_view_shows_the_photo_its_path_and_leads_to_similar(monkeypatch, labelled_collection):
    at = search(page(monkeypatch, labelled_collection.index), "синий круг")
    name = cards(at)[0][1]
    at.button(key=button_of(at, "open-", name)).click().run()
    no_failure(at)
    path = next(p for p in labelled_collection.photos.rglob(name))
    assert any(t.value == str(path) for t in at.text)
    assert any(f"**{name}** · сходство" in m.value and "320 × 240" in m.value for m in at.markdown)
    at.button(key="dialog-similar").click().run()
    no_failure(at)
    assert any(name in m.value and "Ищу похожие" in m.value for m in at.markdown)
    assert name not in [n for _, n, _ in cards(at)]


def test_an_uploaded_photo_finds_its_kind_and_words_refine_it(monkeypatch, labelled_collection):
    at = page(monkeypatch, labelled_collection.index)
    upload = fresh_picture_jpeg("жёлтый", "круг")
    at.file_uploader[0].set_value(("мой круг.jpg", upload, "image/jpeg")).run()
    no_failure(at)
    assert any("мой круг.jpg" in m.value and "Ищу похожие" in m.value for m in at.markdown)
    names = [name for _, name, _ in cards(at)]
    assert all(labelled_collection.label_of[n][0] == "жёлтый" for n in names[:3])
    assert labelled_collection.label_of[names[0]] == ("жёлтый", "круг")
    at.text_input(key="query").input("звезда").run()
    refined = [name for _, name, _ in cards(at)]
    assert labelled_collection.label_of[refined[0]][1] == "звезда"


def test_an_unreadable_upload_is_named_in_a_clear_error(monkeypatch, labelled_collection):
    at = page(monkeypatch, labelled_collection.index)
    at.file_uploader[0].set_value(("отпуск.jpg", b"not really a jpeg", "image/jpeg")).run()
    assert not at.exception
    assert at.error[0].value == "Не удалось прочитать «отпуск.jpg»: это не изображение или файл повреждён."


def test_a_huge_upload_is_refused_with_the_limit(monkeypatch, labelled_collection):
    bomb = io.BytesIO()
    Image.new("1", (11000, 8000)).save(bomb, "PNG")  # 88 MP in 11 KB: just under Pillow's bomb limit
    at = page(monkeypatch, labelled_collection.index)
    at.file_uploader[0].set_value(("скан.png", bomb.getvalue(), "image/png")).run()
    assert not at.exception
    assert at.error[0].value == (
        "Фото «скан.png» слишком большое: в нём 88 Мп, а страница открывает до 50 Мп. Уменьшите его и загрузите снова."
    )
    assert not cards(at)


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("синий +", "В запросе пустое слагаемое: между «+» и «−» должно быть слово."),
        ("+ − синий", "В запросе пустое слагаемое: между «+» и «−» должно быть слово."),
        ("0:синий", "У всех слов запроса вес 0, искать нечего."),
        ("синий − синий", "Искать нечего: слова запроса погасили друг друга"),
        ("кот +", "В запросе пустое слагаемое: между «+» и «−» должно быть слово."),  # unknown words come second
    ],
)
def test_a_query_the_language_cannot_read_is_explained_in_russian(monkeypatch, labelled_collection, query, said):
    at = search(page(monkeypatch, labelled_collection.index), query)
    assert not at.exception
    assert russian(at.error[0].value).startswith(said)
    assert not cards(at)


def test_folder_and_date_filters_keep_k_results_inside_them(monkeypatch, labelled_collection):
    at = search(page(monkeypatch, labelled_collection.index), "звезда")  # every photo scores > 0 here
    at.slider(key="min_score").set_value(0.0)
    at.select_slider(key="k").set_value(12)
    album = labelled_collection.photos / "2024 зима"
    at.selectbox(key="folder").set_value(str(album)).run()
    no_failure(at)
    in_album = {p.name for p in album.glob("IMG_*.jpg")}
    names = [name for _, name, _ in cards(at)]
    assert len(names) == 12 and set(names) <= in_album  # 21 photos there: k of them come back

    at.selectbox(key="folder").set_value("Все папки")
    at.checkbox(key="by_date").check().run()
    dates = at.select_slider(key="dates")
    # Russian month names whatever the browser's language: the collection spans June 2023 to May 2025.
    assert dates.options[0] == "июнь 2023" and dates.options[-1] == "май 2025" and len(dates.options) == 24
    dates.set_value(("январь 2025", "май 2025")).run()  # up to the newest photo
    no_failure(at)
    shown = cards(at)
    assert len(shown) == 12
    assert all(taken.endswith(".2025") for _, _, taken in shown)


def test_the_sidebar_tells_what_the_index_holds_and_what_failed(monkeypatch, labelled_collection):
    at = page(monkeypatch, labelled_collection.index)
    summary = at.sidebar.markdown[0].value
    assert "**64** фото" in summary and "`demo`" in summary and "01.06.2023" in summary
    assert "Поиск: точный, по всем фото" in summary and "flat" not in summary  # not the FAISS kind's name
    # The folder filter: «Все папки» and the albums, not the photo folder itself (it is «Все папки»).
    options = at.selectbox(key="folder").options
    assert options[0] == "Все папки" and labelled_collection.photos.name not in options
    assert f"{labelled_collection.photos.name}/2024 зима" in options
    failed = at.sidebar.expander[0]
    assert failed.label == "Не прочитаны: 1"
    assert [m.value for m in failed.markdown] == ["**1** × не изображение или файл повреждён"]
    assert f"`{labelled_collection.broken.name}`: не изображение или файл повреждён" in [
        c.value for c in failed.caption
    ]
    # The way to the details is a command that runs as shown, on this page's index.
    hint = f'подробности: `{indexer_command()} stats --index "{labelled_collection.index}"`'
    assert hint in [c.value for c in failed.caption]


def test_a_new_build_shows_up_without_restarting_the_page(monkeypatch, tmp_path):
    collection = make_labelled_collection(tmp_path, seed=11)
    at = search(page(monkeypatch, collection.index), "белая звезда")
    assert "**64** фото" in at.sidebar.markdown[0].value
    before = {name for _, name, _ in cards(at)}
    added = collection.photos / "2025 весна" / "новая белая звезда.jpg"
    added.write_bytes(fresh_picture_jpeg("белый", "звезда"))
    build_index(collection.photos, BuildOptions(index_dir=collection.index, device="cpu", workers=1, progress=False))
    at.run()
    no_failure(at)
    assert "**65** фото" in at.sidebar.markdown[0].value
    names = [name for _, name, _ in cards(at)]
    assert added.name not in before and added.name in names[:3]


def test_words_the_demo_model_does_not_know_are_answered_with_what_it_knows(monkeypatch, labelled_collection):
    at = search(page(monkeypatch, labelled_collection.index), "собака на пляже")
    no_failure(at)
    said = russian(at.warning[0].value)
    assert "знает только цвета и фигуры" in said and "«собака»" in said
    assert not cards(at)


def test_the_sidebar_shows_where_the_threshold_falls_among_the_scores(monkeypatch, labelled_collection):
    at = search(page(monkeypatch, labelled_collection.index), "красная звезда")
    no_failure(at)
    assert any("линия — порог" in caption.value for caption in at.sidebar.caption)
    [chart] = at.sidebar.get("vega_lite_chart")
    spec = chart.proto.spec
    assert '"threshold": 0.2' in spec and '"shown": true' in spec and '"shown": false' in spec
    assert spec.count('"score"') >= 1
    # The first and last labels stay inside the chart, and Vega's English descriptions are off.
    assert '"labelFlush": true' in spec and '"aria": false' in spec


def test_identical_files_are_one_card_and_the_large_view_lists_the_copies(monkeypatch, copies_collection):
    photos = copies_collection.photos
    at = search(page(monkeypatch, copies_collection.index), "красная звезда")
    at.slider(key="min_score").set_value(0.0).run()
    no_failure(at)
    assert [name for _, name, _ in cards(at)].count("star.jpg") == 1  # not once per copy
    assert any(c.value == "та же фотография ещё в 1 месте" for c in at.caption)
    assert any("Ещё 1 — точные копии" in c.value for c in at.sidebar.caption)
    at.button(key=button_of(at, "open-", "star.jpg")).click().run()
    no_failure(at)
    shown = [t.value for t in at.text]
    assert any(str(photos / "копия" / "star.jpg") in value for value in shown)
    assert any(str(photos / "star.jpg") == value for value in shown)


@pytest.fixture(scope="module")
def burst_index(burst_collection) -> Path:
    """A red star with a half-size and a quality-60 copy, and four distinct photos (conftest.py), indexed."""
    return burst_collection.index


def test_near_duplicates_fold_into_one_card_that_shows_them_on_a_click(monkeypatch, burst_index):
    at = search(page(monkeypatch, burst_index), "красная звезда")
    at.slider(key="min_score").set_value(0.0).run()
    no_failure(at)
    names = [name for _, name, _ in cards(at)]
    assert {"star.jpg", "star-small.jpg", "star-q60.jpg"} <= set(names)  # off by default: every photo
    assert at.checkbox(key="collapse").value is False
    at.checkbox(key="collapse").check().run()
    no_failure(at)
    folded = [name for _, name, _ in cards(at)]
    assert len([n for n in folded if n.startswith("star")]) == 1 and len(folded) == len(names) - 2
    assert any(c.value == "ещё 2 похожих кадра" for c in at.caption)
    star_card = next(n for n in folded if n.startswith("star"))
    at.button(key=button_of(at, "shots-", star_card)).click().run()
    no_failure(at)
    shown = " ".join(c.value for c in at.caption)
    assert all(f"`{name}`" in shown for name in ("star.jpg", "star-small.jpg", "star-q60.jpg"))
    assert any("и ещё 2 похожих кадра" in m.value and "Ничего не удаляется" in m.value for m in at.markdown)
    assert "`star.jpg` · 400 × 300" in shown  # the largest is the best representative


def test_the_groups_view_lists_near_duplicate_groups_in_russian(monkeypatch, burst_index):
    at = page(monkeypatch, burst_index)
    at.button(key="groups-view").click().run()
    no_failure(at)
    assert [h.value for h in at.main.header] == ["Похожие кадры"]
    assert [s.value for s in at.subheader] == ["Группа 1: 3 кадра"]
    said = next(m.value for m in at.markdown if m.value.startswith("Групп:"))
    assert "**1**, в них 3 кадра" in russian(said) and "ничего не удаляем" in said
    assert len(at.image) == 3 and not cards(at)
    at.button(key="groups-back").click().run()
    no_failure(at)
    assert not at.subheader and at.text_input(key="query").value == ""


def test_the_page_draws_a_russian_note_while_the_model_loads_and_loads_it_once(monkeypatch, labelled_collection):
    from ui.loading import loads

    loads.clear()  # as in a server just started: no model loaded yet
    monkeypatch.setattr(sys, "argv", [str(APP), "--index", str(labelled_collection.index), "--device", "cpu"])
    first = AppTest.from_file(str(APP), default_timeout=120).run()
    no_failure(first)
    # A session's first run: the title and a note, nothing else (the browser loads the chrome meanwhile).
    assert [h.value for h in first.title] == ["Поиск по фотографиям"]
    assert [i.value for i in first.info] == ["Открываю поиск…"] and not first.text_input
    first.run()  # the page's own run (in the browser, a fragment runs it 0.2 s later): the model loads
    no_failure(first)
    note = russian(first.info[0].value)
    assert "Загружаю модель `demo`" in note and "откроется сам" in note
    assert not first.text_input and not first.sidebar.markdown  # nothing to search with before the model
    page_when_loaded(first)
    assert first.text_input(key="query").value == "" and loads().models_started == 1
    # A second session finds the model loaded: past its opening note comes the search page, no loading.
    second = AppTest.from_file(str(APP), default_timeout=120).run().run()
    no_failure(second)
    assert not second.info and second.text_input(key="query").value == ""
    assert loads().models_started == 1
