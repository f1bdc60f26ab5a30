"""The page's tags and categories (issue 23), driven by AppTest over the session's labelled demo
collection: the «Обзор» tiles and what a click on one shows, the sidebar's tag filter, and teaching
a category from photos ticked among the results, then «не то». What the tags and categories hold is
the API's (test_labels.py); here, that the page shows and does it, in Russian."""

from __future__ import annotations

import shutil
from pathlib import Path

import search

from .test_ui_app import cards, no_failure, page, russian
from .test_ui_app import search as typed


def card_ids(at) -> list[int]:
    """The photo ids of the result cards, in page order (from their «Открыть» buttons)."""
    return [int(b.key.split("-")[1]) for b in at.button if b.key and b.key.startswith("open-")]


def test_the_overview_shows_every_tag_with_its_count_and_a_click_shows_its_photos(monkeypatch, labelled_collection):
    at = page(monkeypatch, labelled_collection.index)
    at.button(key="overview-view").click().run()
    no_failure(at)
    with search.open_labels(labelled_collection.index) as labels:
        expected = {tag.name: tag.count for tag in labels.tags() if tag.count}
    tiles = {b.key.removeprefix("tag-tile-"): b.label for b in at.button if b.key and b.key.startswith("tag-tile-")}
    assert tiles == {name: f"{name} · {count}" for name, count in expected.items()}
    assert any(m.value == "**Фигура**" for m in at.markdown) and any(m.value == "**Цвет**" for m in at.markdown)
    russian(" ".join(m.value for m in at.markdown))
    at.button(key="tag-tile-звезда").click().run()
    no_failure(at)
    shown = card_ids(at)
    index = search.open_index(labelled_collection.index, device="cpu")
    assert shown == [hit.id for hit in index.search(tags=["звезда"], k=len(shown))]
    assert shown and all("звезда" in hit.tags for hit in index.search(tags=["звезда"], k=len(shown)))
    assert at.multiselect(key="tags").value == ["звезда"]


def test_the_tag_filter_narrows_a_search_by_words(monkeypatch, labelled_collection):
    at = typed(page(monkeypatch, labelled_collection.index), "звезда")
    at.multiselect(key="tags").set_value(["красный"]).run()
    no_failure(at)
    names = [name for _, name, _ in cards(at)]
    assert names and all(labelled_collection.label_of[name][0] == "красный" for name in names[:2])
    index = search.open_index(labelled_collection.index, device="cpu")
    allowed = {hit.id for hit in index.search("звезда", tags=["красный"], k=100)}
    assert set(card_ids(at)) <= allowed


def test_a_category_is_taught_from_ticked_photos_and_corrected_with_not_this(
    monkeypatch, labelled_collection, tmp_path
):
    own = Path(shutil.copytree(labelled_collection.index, tmp_path / "index"))
    at = typed(page(monkeypatch, own), "красная звезда")
    at.toggle(key="teaching").set_value(True).run()
    # «Научить» with nothing ticked: said in Russian, nothing made.
    at.text_input(key="teach-name").input("звёзды").run()
    at.button(key="teach").click().run()
    assert at.error and "пример" in russian(at.error[0].value)
    first, second = card_ids(at)[:2]
    at.checkbox(key=f"example-{first}").check().run()
    at.checkbox(key=f"example-{second}").check().run()
    at.button(key="teach").click().run()
    no_failure(at)
    assert any("Категория «звёзды»" in s.value for s in at.success)
    assert at.selectbox(key="category").value == "звёзды"
    with search.open_labels(own) as labels:
        members = {member.id for member in labels.members("звёзды")}
    assert {first, second} <= members and set(card_ids(at)) <= members
    # «не то» for a member that is no example (or the second example): gone after retraining.
    others = [i for i in card_ids(at) if i not in (first, second)]
    wrong = others[0] if others else second
    at.checkbox(key=f"wrong-{wrong}").check().run()
    at.button(key="retrain").click().run()
    no_failure(at)
    with search.open_labels(own) as labels:
        assert wrong not in {member.id for member in labels.members("звёзды")}
        assert wrong in labels.category("звёзды").not_examples
    assert wrong not in card_ids(at)
    at.button(key="remove-category").click().run()
    no_failure(at)
    with search.open_labels(own) as labels:
        assert labels.categories() == []
