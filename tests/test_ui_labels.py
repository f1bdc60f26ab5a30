"""The page's tags and categories (issue 23), driven by AppTest over the session's labelled demo
collection: the «Обзор» tiles and what a click on one shows, the sidebar's tag filter, a photo's tags
in the large view, and teaching a category from photos ticked among the results, then «не то», more
examples, its removal; a category taught in one session seen by another; every refusal in Russian.
What the tags and categories hold is the API's (test_labels.py); here, that the page shows and does
it, in Russian."""

from __future__ import annotations

import shutil
from pathlib import Path

import search

from .test_ui_app import cards, no_failure, page, russian
from .test_ui_app import search as typed


def card_ids(at) -> list[int]:
    """The photo ids of the result cards, in page order (from their «Открыть» buttons)."""
    return [int(b.key.split("-")[1]) for b in at.button if b.key and b.key.startswith("open-")]


def tiles(at, kind: str) -> dict[str, str]:
    """Name -> label of the «Обзор» tiles of `kind` ("tag" or "category")."""
    prefix = f"{kind}-tile-"
    return {b.key.removeprefix(prefix): b.label for b in at.button if b.key and b.key.startswith(prefix)}


def own_copy(labelled_collection, tmp_path) -> Path:
    """A copy of the session's index that a test may teach categories in."""
    return Path(shutil.copytree(labelled_collection.index, tmp_path / "index"))


def test_the_overview_shows_every_tag_with_its_count_and_a_click_shows_its_photos(monkeypatch, labelled_collection):
    at = page(monkeypatch, labelled_collection.index)
    at.button(key="overview-view").click().run()
    no_failure(at)
    with search.open_labels(labelled_collection.index) as labels:
        expected = {tag.name: tag.count for tag in labels.tags() if tag.count}
        empty = {tag.name for tag in labels.tags() if not tag.count}
    assert tiles(at, "tag") == {name: f"{name} · {count}" for name, count in expected.items()}
    assert not empty & set(tiles(at, "tag"))  # a tag no photo carries has no tile
    assert any(m.value == "**Фигура**" for m in at.markdown) and any(m.value == "**Цвет**" for m in at.markdown)
    assert len(at.get("image")) >= len(expected)  # every tile has its cover photo
    russian(" ".join(m.value for m in at.markdown))
    at.button(key="tag-tile-звезда").click().run()
    no_failure(at)
    shown = card_ids(at)
    index = search.open_index(labelled_collection.index, device="cpu")
    assert shown == [hit.id for hit in index.search(tags=["звезда"], k=len(shown))]
    assert shown and all("звезда" in hit.tags for hit in index.search(tags=["звезда"], k=len(shown)))
    assert at.multiselect(key="tags").value == ["звезда"]
    assert at.text_input(key="query").value == ""  # the tile's photos alone, by the tag
    at.button(key="overview-view").click().run()
    at.button(key="overview-back").click().run()
    no_failure(at)
    assert card_ids(at) == shown  # «К поиску»: back to the photos shown before


def test_the_tag_filter_narrows_a_search_by_words(monkeypatch, labelled_collection):
    at = typed(page(monkeypatch, labelled_collection.index), "звезда")
    counts = _counts(labelled_collection)
    assert counts and set(at.multiselect(key="tags").options) == {f"{name} ({n})" for name, n in counts.items()}
    at.multiselect(key="tags").set_value(["красный"]).run()
    no_failure(at)
    names = [name for _, name, _ in cards(at)]
    assert names and all(labelled_collection.label_of[name][0] == "красный" for name in names[:2])
    index = search.open_index(labelled_collection.index, device="cpu")
    allowed = {hit.id for hit in index.search("звезда", tags=["красный"], k=100)}
    assert set(card_ids(at)) <= allowed


def _counts(labelled_collection) -> dict[str, int]:
    with search.open_labels(labelled_collection.index) as labels:
        return {tag.name: tag.count for tag in labels.tags() if tag.count}


def test_the_large_view_shows_the_photo_s_tags(monkeypatch, labelled_collection):
    at = typed(page(monkeypatch, labelled_collection.index), "синий круг")
    first = card_ids(at)[0]
    at.button(key=f"open-{first}").click().run()
    no_failure(at)
    index = search.open_index(labelled_collection.index, device="cpu")
    tags = index.search("синий круг", k=1)[0].tags
    assert tags and any(m.value == "Теги: " + " ".join(f":gray-badge[{tag}]" for tag in tags) for m in at.markdown)


def test_a_category_is_taught_from_ticked_photos_and_corrected_with_not_this(
    monkeypatch, labelled_collection, tmp_path
):
    own = own_copy(labelled_collection, tmp_path)
    at = typed(page(monkeypatch, own), "красная звезда")
    at.toggle(key="teaching").set_value(True).run()
    # «Научить» with nothing ticked: said in Russian, nothing made.
    at.text_input(key="teach-name").input("звёзды").run()
    at.button(key="teach").click().run()
    assert at.error and "пример" in russian(at.error[0].value)
    with search.open_labels(own) as labels:
        assert labels.categories() == []
    first, second = card_ids(at)[:2]
    at.checkbox(key=f"pick-{first}").check().run()
    at.checkbox(key=f"pick-{second}").check().run()
    assert any("отмечено: 2" in m.value for m in at.markdown)
    at.button(key="teach").click().run()
    no_failure(at)
    with search.open_labels(own) as labels:
        taught = labels.category("звёзды")
        members = labels.members("звёзды")
    assert set(taught.examples) == {first, second}
    assert [s.value for s in at.success] == [f"Категория «звёзды» научена по 2 примерам: в ней {taught.members} фото."]
    assert at.selectbox(key="category").value == "звёзды"
    # Its members are shown, the most certain first, each with its score.
    assert card_ids(at) == [member.id for member in members][: len(card_ids(at))]
    assert [score for score, _, _ in cards(at)] == [round(member.score, 2) for member in members][: len(card_ids(at))]
    assert {first, second} <= {member.id for member in members}
    # «не то» for a member that is no example (or the second example): gone after retraining.
    others = [i for i in card_ids(at) if i not in (first, second)]
    wrong = others[0] if others else second
    at.checkbox(key=f"wrong-{wrong}").check().run()
    at.button(key="retrain").click().run()
    no_failure(at)
    with search.open_labels(own) as labels:
        after = labels.category("звёзды")
        assert wrong not in {member.id for member in labels.members("звёзды")}
        assert wrong in after.not_examples
    change = "столько же" if after.members == taught.members else f"было {taught.members}"
    assert [s.value for s in at.success] == [f"Категория «звёзды» переобучена: в ней {after.members} фото ({change})."]
    assert wrong not in card_ids(at)
    at.button(key="remove-category").click().run()
    no_failure(at)
    assert [s.value for s in at.success] == ["Категория «звёзды» удалена. Фото остались на месте."]
    with search.open_labels(own) as labels:
        assert labels.categories() == []


def test_photos_ticked_in_any_search_join_an_existing_category(monkeypatch, labelled_collection, tmp_path):
    own = own_copy(labelled_collection, tmp_path)
    index = search.open_index(own, device="cpu")
    star = index.search("красная звезда", k=1)[0].id
    with search.open_labels(own) as labels:
        labels.add_category("мои", [star])
    at = typed(page(monkeypatch, own), "синий круг")
    at.toggle(key="teaching").set_value(True).run()
    at.selectbox(key="teach-into").set_value("мои").run()
    circle = card_ids(at)[0]
    at.checkbox(key=f"pick-{circle}").check().run()
    at.button(key="add-examples").click().run()
    no_failure(at)
    with search.open_labels(own) as labels:
        assert set(labels.category("мои").examples) == {star, circle}
    assert at.selectbox(key="category").value == "мои" and "переобучена" in at.success[0].value


def test_a_category_taught_in_one_session_shows_in_another_s_overview(monkeypatch, labelled_collection, tmp_path):
    own = own_copy(labelled_collection, tmp_path)
    other = page(monkeypatch, own)
    other.button(key="overview-view").click().run()
    assert tiles(other, "category") == {}
    at = typed(page(monkeypatch, own), "зелёный квадрат")
    at.toggle(key="teaching").set_value(True).run()
    for photo in card_ids(at)[:2]:
        at.checkbox(key=f"pick-{photo}").check().run()
    at.text_input(key="teach-name").input("квадраты").run()
    at.button(key="teach").click().run()
    no_failure(at)
    with search.open_labels(own) as labels:
        members = labels.category("квадраты").members
    other.run()
    assert tiles(other, "category") == {"квадраты": f"квадраты · {members}"}
    other.button(key="category-tile-квадраты").click().run()
    no_failure(other)
    with search.open_labels(own) as labels:
        ranked = [member.id for member in labels.members("квадраты")]
    assert other.selectbox(key="category").value == "квадраты"
    assert card_ids(other) == ranked[: other.select_slider(key="k").value]
    # The same name taught again in the other session: refused, in Russian.
    other.selectbox(key="category").set_value("Все фото")
    typed(other, "зелёный квадрат").toggle(key="teaching").set_value(True).run()
    other.checkbox(key=f"pick-{card_ids(other)[0]}").check().run()
    other.text_input(key="teach-name").input("квадраты").run()
    other.button(key="teach").click().run()
    said = "Название занято или не подходит: нужно от 1 до 80 символов без «|», не как у другой категории."
    assert [russian(e.value) for e in other.error] == [said]
    # Removed in one session: the other's filter falls back to all photos instead of failing.
    at.button(key="remove-category").click().run()
    other.run()
    no_failure(other)
    assert [box.key for box in other.selectbox if box.key == "category"] == []
    assert "retrain" not in [b.key for b in other.button]
