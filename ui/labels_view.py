"""The page's tags and categories: the sidebar's filters, the «Обзор» of the collection (a tile per tag
and per category, with a cover photo and a count), and the teaching of a category from photos
ticked among the results («пример», «не то»). The sentences are ui/messages.py's; the work is
PhotoIndex.labels'."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from search import CategorySummary, Hit, TagSummary
from ui import messages
from ui.messages import plain

TILE_COLUMNS = 4
PICK = "pick"  # the key prefix of a card's «пример» box: pick-<id>
WRONG = "wrong"  # of its «не то» box


@dataclass(frozen=True)
class LabelFilters:
    """The tags every photo must carry, and the category it must be of (None: any)."""

    tags: tuple[str, ...]
    category: str | None

    @property
    def active(self) -> bool:
        return bool(self.tags) or self.category is not None


def usable(categories: list[CategorySummary]) -> list[str]:
    """The names of the categories this index's model can apply (another model's are never offered)."""
    return [category.name for category in categories if category.usable]


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
        help=messages.TAGS_HELP,
    )
    names = usable(categories)
    if st.session_state.get("category") not in (None, messages.ALL_PHOTOS, *names):
        st.session_state.category = messages.ALL_PHOTOS  # removed meanwhile (in this tab or another)
    category = messages.ALL_PHOTOS
    if names:
        category = st.sidebar.selectbox(
            "Категория", [messages.ALL_PHOTOS, *names], key="category", help=messages.CATEGORY_HELP
        )
    return LabelFilters(tuple(chosen), None if category == messages.ALL_PHOTOS else category)


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
    head.subheader(messages.OVERVIEW_TITLE, anchor=False)
    close.button("К поиску", key="overview-back", on_click=back, width="stretch")
    own = [category for category in categories if category.usable and category.members]
    if own:
        st.markdown(f"**{messages.OWN_CATEGORIES}**")
        _tiles([(c.name, c.members, c.cover_id) for c in own], covers, show_category, "category")
    carried = [tag for tag in tags if tag.count]
    if not carried:
        st.info(messages.NO_TAGS_YET)
        return
    for group in dict.fromkeys(tag.group for tag in carried):
        st.markdown(f"**{plain(group.capitalize()) or messages.OTHER_TAGS}**")
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
                elif picture is not None:  # the cover cannot be shown: why, instead of a hole
                    st.caption(picture)
                label = f"{plain(name)} · {count}"
                st.button(label, key=f"{kind}-tile-{name}", on_click=show, args=(name,), width="stretch")


def card_marks(hit: Hit, teaching: bool, category: str | None) -> None:
    """Under a card: «пример» while a category is being taught, «не то» on a shown category's members."""
    if teaching:
        st.checkbox("пример", key=f"{PICK}-{hit.id}")
    if category is not None and category in hit.categories:
        st.checkbox("не то", key=f"{WRONG}-{hit.id}", help=f"Это фото не из категории «{plain(category)}»")


def ticked(prefix: str, hits: list[Hit]) -> list[int]:
    """The ids of the shown hits whose checkbox `prefix-<id>` is ticked."""
    return [hit.id for hit in hits if st.session_state.get(f"{prefix}-{hit.id}")]


def teach_panel(
    hits: list[Hit],
    categories: list[str],
    teach: Callable[[str, list[int], str], None],
    add_examples: Callable[[str, list[int]], None],
) -> None:
    """Above the grid while teaching: a new category (a name, optional words, «Научить»), or more
    examples for one of `categories` from the photos ticked in these results."""
    with st.container(border=True, key="teach-panel"):
        picked = ticked(PICK, hits)
        into = messages.NEW_CATEGORY
        if categories:
            into = st.selectbox("Куда добавить примеры", [messages.NEW_CATEGORY, *categories], key="teach-into")
        if into != messages.NEW_CATEGORY:
            st.markdown(messages.add_hint(into, len(picked)))
            st.button(
                "Добавить примеры", key="add-examples", on_click=add_examples, args=(into, picked), type="primary"
            )
            return
        st.markdown(messages.teach_hint(len(picked)))
        left, middle, right = st.columns([2, 3, 1], vertical_alignment="bottom")
        name = left.text_input("Название", key="teach-name", placeholder="например, дача")
        words = middle.text_input("Слова (необязательно)", key="teach-words", placeholder="например, деревянный дом")
        right.button("Научить", key="teach", on_click=teach, args=(name, picked, words), type="primary")


def category_panel(
    hits: list[Hit],
    category: str,
    correct: Callable[[str, list[int], list[int]], None],
    remove: Callable[[str], None],
) -> None:
    """Above a category's photos: how they are ranked, «Переобучить» (the ticked «не то» and
    «пример») and «Удалить категорию»."""
    with st.container(border=True, key="category-panel"):
        picked, wrong = ticked(PICK, hits), ticked(WRONG, hits)
        st.markdown(messages.correct_hint(category, len(wrong), len(picked)))
        st.caption(messages.SCORES_NOTE)
        left, right = st.columns(2)
        left.button("Переобучить", key="retrain", on_click=correct, args=(category, picked, wrong), type="primary")
        right.button("Удалить категорию", key="remove-category", on_click=remove, args=(category,))
