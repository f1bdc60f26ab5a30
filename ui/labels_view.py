"""The page's tags and categories: the sidebar's filters, the «Обзор» of the collection (a tile per tag
and per category, with a cover photo and a count), and the teaching of a category from photos
ticked among the results («пример», «не то»). Words in Russian; the work is PhotoIndex.labels'."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from search import CategorySummary, Hit, TagSummary

ALL_PHOTOS = "Все фото"
TILE_COLUMNS = 4


@dataclass(frozen=True)
class LabelFilters:
    """The tags every photo must carry, and the category it must be of (None: any)."""

    tags: tuple[str, ...]
    category: str | None

    @property
    def active(self) -> bool:
        return bool(self.tags) or self.category is not None


def label_filters(tags: list[TagSummary], categories: list[CategorySummary]) -> LabelFilters:
    """The sidebar's «Теги» and «Категория» (only tags some photo carries; only usable categories)."""
    counts = {tag.name: tag.count for tag in tags if tag.count}
    # A tag chosen before a build took it from every photo stays chosen (and finds nothing) rather
    # than breaking the widget.
    for name in st.session_state.get("tags", []):
        counts.setdefault(name, 0)
    chosen = st.sidebar.multiselect(
        "Теги",
        list(counts),
        key="tags",
        format_func=lambda name: f"{name} ({counts[name]})",
        placeholder="Любые",
        help="Только фото со всеми выбранными тегами. Теги ставятся при индексации.",
    )
    names = [category.name for category in categories if category.usable]
    if st.session_state.get("category") not in (None, ALL_PHOTOS, *names):
        st.session_state.category = ALL_PHOTOS  # removed meanwhile (in this tab or another)
    category = st.sidebar.selectbox("Категория", [ALL_PHOTOS, *names], key="category") if names else ALL_PHOTOS
    return LabelFilters(tuple(chosen), None if category == ALL_PHOTOS else category)


def overview(
    tags: list[TagSummary],
    categories: list[CategorySummary],
    covers: dict[int, bytes | str],
    show_tag: Callable[[str], None],
    show_category: Callable[[str], None],
    back: Callable[[], None],
) -> None:
    """Tiles of the categories, then of the tags under their groups' headings; a click shows the photos."""
    head, close = st.columns([5, 1])
    head.subheader("Обзор коллекции", anchor=False)
    close.button("К поиску", key="overview-back", on_click=back, width="stretch")
    usable = [category for category in categories if category.usable and category.members]
    if usable:
        st.markdown("**Свои категории**")
        _tiles([(c.name, c.members, c.cover_id) for c in usable], covers, show_category, "category")
    carried = [tag for tag in tags if tag.count]
    if not carried:
        st.info("У фото пока нет тегов: они появятся после следующей индексации.")
        return
    for group in dict.fromkeys(tag.group for tag in carried):
        st.markdown(f"**{group.capitalize() or 'Теги'}**")
        _tiles([(t.name, t.count, t.cover_id) for t in carried if t.group == group], covers, show_tag, "tag")


def _tiles(
    items: list[tuple[str, int, int | None]],
    covers: dict[int, bytes | str],
    show: Callable[[str], None],
    kind: str,
) -> None:
    for start in range(0, len(items), TILE_COLUMNS):
        row = st.columns(TILE_COLUMNS)
        for column, (name, count, cover) in zip(row, items[start : start + TILE_COLUMNS], strict=False):
            with column, st.container(key=f"tile-{kind}-{name}"):
                picture = covers.get(cover) if cover is not None else None
                if isinstance(picture, bytes):
                    st.image(picture, width="stretch")
                st.button(f"{name} · {count}", key=f"{kind}-tile-{name}", on_click=show, args=(name,), width="stretch")


def card_marks(hit: Hit, teaching: bool, category: str | None) -> None:
    """Under a card: «пример» while a category is being taught, «не то» while one is shown."""
    if teaching:
        st.checkbox("пример", key=f"example-{hit.id}")
    if category is not None and category in hit.categories:
        st.checkbox("не то", key=f"wrong-{hit.id}", help=f"Это фото не из категории «{category}»")


def ticked(prefix: str, hits: list[Hit]) -> list[int]:
    """The ids of the shown hits whose checkbox `prefix-<id>` is ticked."""
    return [hit.id for hit in hits if st.session_state.get(f"{prefix}-{hit.id}")]


def teach_panel(
    hits: list[Hit],
    category: str | None,
    teach: Callable[[str, list[int], str], None],
    correct: Callable[[str, list[int], list[int]], None],
    remove: Callable[[str], None],
) -> None:
    """Above the grid while teaching: a name, optional words, and «Научить»; with a category shown,
    «Переобучить» (the ticked «пример» and «не то») and «Удалить категорию»."""
    with st.container(border=True, key="teach-panel"):
        examples, wrong = ticked("example", hits), ticked("wrong", hits)
        if category is None:
            st.markdown(f"**Новая категория.** Отметьте «пример» у её фото (отмечено: {len(examples)}).")
            left, middle, right = st.columns([2, 3, 1])
            name = left.text_input("Название", key="teach-name", placeholder="например, дача")
            words = middle.text_input(
                "Слова (необязательно)", key="teach-words", placeholder="например, деревянный дом"
            )
            right.button("Научить", key="teach", on_click=teach, args=(name, examples, words), type="primary")
            return
        st.markdown(
            f"**Категория «{category}».** Отметьте «не то» у лишних фото и «пример» у новых, затем переобучите "
            f"(«не то»: {len(wrong)}, новых примеров: {len(examples)})."
        )
        left, right = st.columns(2)
        left.button("Переобучить", key="retrain", on_click=correct, args=(category, examples, wrong), type="primary")
        right.button("Удалить категорию", key="remove-category", on_click=remove, args=(category,))


def taught(name: str, members: int) -> str:
    """The note after a category was taught or retrained."""
    return f"Категория «{name}»: фото в ней — {members}."
