"""Each part of the page, drawn from plain data: states, sidebar, query controls, grid, large view.

Widgets carry ids only (keys such as "similar-17"); paths never come back from the browser.
"""

from __future__ import annotations

import calendar
import html
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import altair as alt
import numpy as np
import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.runtime.uploaded_file_manager import UploadedFile

from search import Failure, Hit, IndexStats
from search.commands import indexer_command
from search.constants import RAW_SUFFIXES
from search.images import image_suffixes
from ui import messages
from ui.messages import failure_reason, plural

COLUMNS = 4
RESULT_COUNTS = [12, 24, 48, 96]
DEFAULT_RESULTS = 24
# Cosine similarity below which a hit is not called a match. Its scale is the model's (ruCLIP's and the
# demo model's differ: BENCHMARKS.md), so the slider's help sends the user to the histogram of this
# index's own scores instead of quoting numbers.
DEFAULT_MIN_SCORE = 0.20
THRESHOLD_HELP = (
    "Фото со сходством ниже порога не показываются. Сходство — косинус между запросом и фото; "
    "его шкала зависит от модели индекса, поэтому порог удобнее ставить по гистограмме: она появляется "
    "здесь после запроса и показывает сходство каждого фото, линия — порог. Подходящие фото обычно "
    "стоят отдельной группой справа."
)
# The date filter: Streamlit's date picker names months and weekdays in the browser's language and
# its buttons in English, so the filter is a range slider of months (or of days, for a short span)
# with Russian names.
MONTHS = "январь февраль март апрель май июнь июль август сентябрь октябрь ноябрь декабрь".split()
MONTHS_OF = "января февраля марта апреля мая июня июля августа сентября октября ноября декабря".split()
DAYS_SPAN = 62  # up to about two months of photos, the slider steps by day; longer, by month
# Index kinds (IndexStats.index_type) in the user's words; another kind is not shown.
INDEX_KINDS = {"flat": "точный, по всем фото", "ivf": "быстрый, приближённый (для больших коллекций)"}
EXAMPLES = ["дети на пляже", "рыжий кот спит на подоконнике", "закат над морем", "собака + снег − люди"]
DEMO_EXAMPLES = ["красная звезда", "синий круг", "жёлтый", "звезда − красный"]
UPLOAD_TYPES = sorted(suffix.lstrip(".") for suffix in image_suffixes())  # what the indexer reads, RAW too


@dataclass(frozen=True)
class Filters:
    k: int
    min_score: float
    folder: str | None
    date_from: date | None
    date_to: date | None
    collapse: bool = False  # one card per group of near-duplicates


def day(moment: datetime | date | None) -> str:
    return moment.strftime("%d.%m.%Y") if moment else "—"


def no_index(folder: Path) -> None:
    st.info(f"В папке `{folder}` ещё нет индекса. Постройте его одной командой, потом обновите страницу.")
    st.markdown("Ваши фотографии:")
    indexer = indexer_command()  # as the user can run it here: ruphoto, .venv/bin/ruphoto, ...
    st.code(f'{indexer} build "/путь/к/фото" --index "{folder}"', language="bash")
    st.markdown("Или демо-коллекция с маленькой моделью, без интернета:")
    st.code(f'{indexer} build data/demo/photos --model demo --index "{folder}"', language="bash")


def first_build_running(folder: Path) -> None:
    st.info(
        f"Индекс в `{folder}` ещё строится (первая сборка не дошла до первой порции фото). "
        "Поиск появится, как только она запишет первые фото; обновите страницу через минуту."
    )
    st.button("Обновить", key="refresh")


def sidebar_summary(stats: IndexStats, failures: list[Failure], folder: Path) -> None:
    st.sidebar.header("Индекс")
    built = stats.last_build.astimezone().strftime("%d.%m.%Y %H:%M") if stats.last_build else "идёт первая"
    st.sidebar.markdown(
        f"**{stats.images}** фото · модель `{stats.model}`  \n"
        f"Последняя сборка: {built}  \n"
        f"Снято: {day(stats.taken_from)} — {day(stats.taken_to)}"
        + (f"  \nПоиск: {kind}" if (kind := index_kind(stats.index_type)) else "")
    )
    if stats.copies:
        st.sidebar.caption(f"Ещё {stats.copies} — точные копии этих фото: показываются вместе с ними")
    if stats.with_text:  # build --ocr read words in them: the query's words are looked for there too
        st.sidebar.caption(messages.text_read_in(stats.with_text))
    for root in stats.roots:  # broken only after a separator: a folder name stays whole
        st.sidebar.caption(
            f'Папка с фото: <span class="photo-folder">{breakable_path(root)}</span>', unsafe_allow_html=True
        )
    if stats.failed:
        with st.sidebar.expander(f"Не прочитаны: {stats.failed}"):
            for reason, count in sorted(stats.failures.items(), key=lambda item: -item[1]):
                st.markdown(f"**{count}** × {failure_reason(reason)}")
            for failure in failures:  # failure.detail is the indexer's English: `indexer stats` shows it
                st.caption(f"`{os.path.basename(failure.path)}`: {failure_reason(failure.reason)}", help=failure.path)
            more = f"и ещё {stats.failed - len(failures)}; " if stats.failed > len(failures) else ""
            st.caption(f'{more}подробности: `{indexer_command()} stats --index "{folder}"`')


def filters(stats: IndexStats, folders: list[str]) -> Filters:
    st.sidebar.header("Фильтры")
    k = st.sidebar.select_slider("Сколько показать", options=RESULT_COUNTS, value=DEFAULT_RESULTS, key="k")
    min_score = st.sidebar.slider(
        "Порог сходства",
        min_value=0.0,
        max_value=0.6,
        value=DEFAULT_MIN_SCORE,
        step=0.01,
        key="min_score",
        help=THRESHOLD_HELP,
    )
    everything = "Все папки"
    chosen = st.sidebar.selectbox(
        "Папка", [everything, *folders], key="folder", format_func=lambda f: f if f == everything else _short(f, stats)
    )
    date_from = date_to = None
    dated = stats.taken_from and stats.taken_to and stats.taken_from.date() < stats.taken_to.date()
    if dated and st.sidebar.checkbox("По дате съёмки", key="by_date"):
        steps = date_steps(stats.taken_from.date(), stats.taken_to.date())
        labels = {label: (start, end) for label, start, end in steps}
        first, last = st.sidebar.select_slider(
            "Снято между",
            options=list(labels),
            value=(steps[0][0], steps[-1][0]),
            key="dates",
            help="Фото без даты съёмки при этом фильтре не показываются.",
        )
        date_from, date_to = labels[first][0], labels[last][1]
    # Off by default: a grouping mistake (the demo model groups 97 % of pairs rightly; ruCLIP's
    # threshold is unmeasured) would hide a different photo inside another's card, unseen.
    collapse = st.sidebar.checkbox(
        "Схлопывать похожие кадры",
        value=False,
        key="collapse",
        help="Серии снимков, уменьшенные и пересохранённые копии одного кадра — одной карточкой. Ничего не удаляется.",
    )
    return Filters(k, min_score, None if chosen == everything else chosen, date_from, date_to, collapse)


def index_kind(name: str) -> str | None:
    """The index's kind ("flat-ip", "ivf2048-sq8") as a user reads it, or None for one unknown here."""
    for prefix, said in INDEX_KINDS.items():
        if name.startswith(prefix):
            return said
    return None


_AFTER_SEPARATOR = re.compile(r"(?<=[/\\])")


def breakable_path(path: str) -> str:
    """`path` as HTML that a narrow column breaks after a separator, never inside a folder's name
    (not even at its hyphen): each part a span that does not wrap, <wbr> between them (nothing is
    added to the text a user copies)."""
    parts = [part for part in _AFTER_SEPARATOR.split(path) if part]
    return "<wbr>".join(f"<span>{html.escape(part)}</span>" for part in parts)


def date_steps(first: date, last: date) -> list[tuple[str, date, date]]:
    """The date filter's steps from `first` to `last`: (Russian label, first day, last day) of each
    day when the span is short («5 марта 2024»), of each month otherwise («март 2024»)."""
    if (last - first).days <= DAYS_SPAN:
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        return [(f"{d.day} {MONTHS_OF[d.month - 1]} {d.year}", d, d) for d in days]
    steps = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        end = date(year, month, calendar.monthrange(year, month)[1])
        steps.append((f"{MONTHS[month - 1]} {year}", date(year, month, 1), end))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return steps


def model_loading(where: DeltaGenerator, model: str, downloading: bool) -> None:
    """The note while the index's model loads (the page reruns by itself once it is ready)."""
    if downloading:
        said = f"Скачиваю модель `{model}` из интернета: это нужно один раз, дальше она берётся с диска…"
    else:
        said = f"Загружаю модель `{model}`…"
    where.info(said + " Поиск откроется сам, как только она будет готова.")


def _short(folder: str, stats: IndexStats) -> str:
    """A folder as the user knows it: relative to its photo folder."""
    for root in stats.roots:
        if folder == root:
            return os.path.basename(root) or root
        if folder.startswith(os.path.join(root, "")):
            return os.path.join(os.path.basename(root), os.path.relpath(folder, root))
    return folder


def query_box(demo: bool) -> str:
    examples = DEMO_EXAMPLES if demo else EXAMPLES
    return st.text_input(
        "Что ищем?",
        key="query",
        placeholder="например: " + ", ".join(examples[:3]),
        help="Опишите фото по-русски. «+» добавляет слово, «−» отталкивает от него: «кот + снег − собака»; "
        "«2:кот» удваивает вес слова.",
    )


def text_toggle() -> bool:
    """«Текст на фото»: whether the query's words are also looked for in the text read in the photos."""
    return st.toggle(messages.TEXT_IN_PHOTOS, key="ocr_text", help=messages.TEXT_TOGGLE_HELP)


def example_uploader(key: str, on_change: Callable[[], None]) -> UploadedFile | None:
    """The uploader of an example picture, in Russian (see _RUSSIAN_UPLOADER)."""
    limit_mb = int(st.get_option("server.maxUploadSize"))
    st.html(_RUSSIAN_UPLOADER.replace("LIMIT_MB", str(limit_mb)))
    return st.file_uploader(
        "Или похожие на своё фото",
        type=UPLOAD_TYPES,
        key=key,
        on_change=on_change,
        help="Страница найдёт фото, похожие на загруженное; слова в запросе его уточняют.",
    )


# Streamlit's uploader has no locale and its words ("Drag and drop file here", "Limit 200MB per
# file", "Upload", a file's size "13.0KB", "Error: text/plain files are not allowed.") are not
# options: they are hidden by their elements' data-testid and Russian is drawn in their place
# (CSS `content`; the size is only hidden). The test ids are those of Streamlit 1.67's FileUploader;
# tests/test_ui_browser.py reads the page's visible text, so a Streamlit that renames them fails it.
_RUSSIAN_UPLOADER = """<style>
[data-testid="stFileUploaderDropzoneInstructions"] > * { display: none; }
[data-testid="stFileUploaderDropzoneInstructions"]::before {
  content: "Перетащите фото сюда или нажмите «Выбрать»"; display: block;
}
[data-testid="stFileUploaderDropzoneInstructions"]::after {
  content: "до LIMIT_MB МБ · JPEG, PNG, WebP, HEIC и другие"; display: block; font-size: 0.875em; opacity: 0.6;
}
[data-testid="stFileUploaderDropzone"] [data-testid="stBaseButton-secondary"] > * { display: none; }
[data-testid="stFileUploaderDropzone"] [data-testid="stBaseButton-secondary"]::after { content: "Выбрать"; }
[data-testid="stFileUploaderDropzone"] > div:not([data-testid]):not(:has([data-testid])) > * { display: none; }
[data-testid="stFileUploaderDropzone"] > div:not([data-testid]):not(:has([data-testid]))::after {
  content: "Отпустите фото здесь";
}
[data-testid="stFileChipName"] + * { display: none; }
[data-testid="stFileChip"] [role="alert"] { display: none; }
[data-testid="stFileChip"]:has([role="alert"])::after {
  content: "Не загружено: больше LIMIT_MB МБ или не изображение"; font-size: 0.875em;
}
</style>"""


def welcome(demo: bool, use_example: Callable[[str], None]) -> None:
    st.markdown("Опишите фото словами, загрузите похожую картинку или нажмите «Похожие» у любого результата.")
    examples = DEMO_EXAMPLES if demo else EXAMPLES
    for column, example in zip(st.columns(len(examples)), examples, strict=True):
        column.button(example, key=f"example-{example}", on_click=use_example, args=(example,))


def example_banner(label: str, picture: bytes | None, clear: Callable[[], None]) -> float:
    """Shows the example picture the search is looking like; returns its weight against the text."""
    left, right = st.columns([1, 5])
    if picture:
        left.image(picture, width="stretch")
    right.markdown(f"Ищу похожие на **{label}**. Добавьте слова в запрос, чтобы уточнить: «зимой», «− люди».")
    weight = right.slider("Вес фото против слов", min_value=0.0, max_value=3.0, value=1.0, step=0.1, key="image_weight")
    right.button("✕ Убрать пример", key="clear-example", on_click=clear)
    return weight


def similar_shots(count: int) -> str:
    """«ещё 1 похожий кадр», «ещё 3 похожих кадра», «ещё 5 похожих кадров»."""
    return f"ещё {count} {plural(count, 'похожий кадр', 'похожих кадра', 'похожих кадров')}"


def shots(count: int) -> str:
    """«1 кадр», «3 кадра», «5 кадров»."""
    return f"{count} {plural(count, 'кадр', 'кадра', 'кадров')}"


def _places(count: int) -> str:
    """«в 1 месте», «в 2 местах», «в 21 месте»."""
    return plural(count, "месте", "местах", "местах")


def score_histogram(scores: np.ndarray, threshold: float, limit: int) -> None:
    """Where the threshold falls among the query's scores: bars over it are the matches shown."""
    if len(scores) < 2:
        return
    top = "всех" if len(scores) < limit else f"лучших {len(scores)}"
    st.caption(f"Сходство {top} фото с запросом; линия — порог")
    values = [{"score": float(score), "shown": bool(score >= threshold)} for score in scores]
    bars = (
        alt.Chart(alt.Data(values=values))
        .mark_bar()
        .encode(
            # labelFlush: the first and last labels stay inside the chart (a filter narrows the
            # scores, and the last label was cut at the right edge).
            x=alt.X("score:Q", bin=alt.Bin(maxbins=30), title="сходство", axis=alt.Axis(labelFlush=True)),
            y=alt.Y("count():Q", title="фото"),
            color=alt.Color(
                "shown:N", legend=None, scale=alt.Scale(domain=[False, True], range=["#bbbbbb", "#e4572e"])
            ),
        )
    )
    rule = alt.Chart(alt.Data(values=[{"threshold": threshold}])).mark_rule(color="black").encode(x="threshold:Q")
    # aria off: Vega would describe the axes and bars in English ("X-axis titled…"); the chart is
    # described in Russian as a whole instead.
    # padding: room at the sides for the last label and the rotated axis title, which Vega may place
    # past the plot's edge when a filter narrows the scores (they were cut).
    described = (bars + rule).properties(
        description=f"Гистограмма сходства фото с запросом, порог {threshold:.2f}",
        padding={"left": 8, "right": 16, "top": 4, "bottom": 4},
    )
    st.altair_chart(described.configure(aria=False), height=140, width="stretch")


def results_grid(
    hits: list[Hit],
    pictures: list[bytes | str],
    open_hit: Callable[[int], None],
    similar_to: Callable[[int], None],
    show_shots: Callable[[int], None] | None = None,
    marks: Callable[[Hit], None] | None = None,
) -> None:
    """Thumbnails with score, file name and date; a picture that could not be read shows why. A
    card that stands for a group of near-duplicates says how many more and shows them on a click.
    `marks` draws a card's own controls under it (the checkboxes of teaching a category)."""
    st.caption(f"Найдено: {len(hits)}")
    for start in range(0, len(hits), COLUMNS):
        row = st.columns(COLUMNS)
        cards = zip(hits[start : start + COLUMNS], pictures[start : start + COLUMNS], strict=True)
        for column, (hit, picture) in zip(row, cards, strict=False):  # the last row may be short
            with column, st.container(key=f"card-{hit.id}"):
                if isinstance(picture, bytes):
                    st.image(picture, width="stretch")
                else:
                    st.warning(picture)
                st.markdown(f"**{hit.score:.2f}** · `{os.path.basename(hit.path)}` · {day(hit.taken_at)}")
                if hit.matched_words:  # the query's words, found in the text read in the photo
                    st.caption(messages.matched_words(hit.matched_words))
                if hit.also_at:  # identical files: one photo, shown once
                    st.caption(f"та же фотография ещё в {len(hit.also_at)} {_places(len(hit.also_at))}")
                if hit.similar_shots and show_shots is not None:  # near-duplicates: other photos, folded
                    st.caption(similar_shots(len(hit.similar_shots)))
                    st.button("Показать похожие кадры", key=f"shots-{hit.id}", on_click=show_shots, args=(hit.id,))
                left, right = st.columns(2)
                left.button("Открыть", key=f"open-{hit.id}", on_click=open_hit, args=(hit.id,), width="stretch")
                right.button("Похожие", key=f"similar-{hit.id}", on_click=similar_to, args=(hit.id,), width="stretch")
                if marks is not None:
                    marks(hit)


def details(hit: Hit, picture: bytes | str) -> None:
    """The large view's body: the picture (at most its own size) and what the index knows of it."""
    shown, about = st.columns([3, 2])
    if isinstance(picture, bytes):
        shown.image(picture, width="content")
    else:
        shown.warning(picture)
    size = f"{hit.width} × {hit.height}" if hit.width and hit.height else "—"
    about.markdown(
        f"**{os.path.basename(hit.path)}** · сходство {hit.score:.3f}  \n"
        f"Снято: {hit.taken_at.strftime('%d.%m.%Y %H:%M') if hit.taken_at else '—'}  \n"
        f"{size} · {hit.camera or 'камера неизвестна'}"
    )
    about.text(hit.path)  # plain text: a path is shown as it is, never read as markdown
    if hit.tags:
        about.markdown("Теги: " + " ".join(f":gray-badge[{tag}]" for tag in hit.tags))
    if hit.categories:
        about.markdown("Категории: " + " ".join(f":blue-badge[{name}]" for name in hit.categories))
    raws = [path for path in hit.also_at if os.path.splitext(path)[1].lower() in RAW_SUFFIXES]
    copies = [path for path in hit.also_at if path not in raws]
    if copies:
        about.markdown(f"Тот же файл, байт в байт, ещё в {len(copies)} {_places(len(copies))}:")
        about.text("\n".join(copies))
    if raws:
        about.markdown("Снимок в RAW:" if len(raws) == 1 else "Снимки в RAW:")
        about.text("\n".join(raws))
    if hit.text:
        recognised_text(about, hit.text, hit.matched_words)


TEXT_SCROLLS_FROM = 20  # lines: a longer text (a document's page) scrolls in a box of its own
TEXT_BOX_HEIGHT = 420  # pixels


def recognised_text(where: DeltaGenerator, text: str, matched: tuple[str, ...]) -> None:
    """The text read in the photo under «Текст на фото», the words the query found highlighted."""
    where.markdown(f"**{messages.TEXT_IN_PHOTOS}**")
    box = where.container(height=TEXT_BOX_HEIGHT) if len(text.splitlines()) > TEXT_SCROLLS_FROM else where
    box.markdown(messages.plain_text(text, matched))


def group_pictures(hits: list[Hit], pictures: list[bytes | str]) -> None:
    """The photos of one near-duplicate group side by side, the best representative first."""
    for start in range(0, len(hits), COLUMNS):
        row = zip(st.columns(COLUMNS), hits[start : start + COLUMNS], pictures[start : start + COLUMNS], strict=False)
        for column, hit, picture in row:
            with column:
                if isinstance(picture, bytes):
                    st.image(picture, width="stretch")
                else:
                    st.warning(picture)
                size = f"{hit.width} × {hit.height}" if hit.width and hit.height else "—"
                st.caption(f"`{os.path.basename(hit.path)}` · {size} · {day(hit.taken_at)}", help=hit.path)


def groups_header(groups: int, photos: int, back: Callable[[], None]) -> None:
    st.header("Похожие кадры")
    st.button("← К поиску", key="groups-back", on_click=back)
    if not groups:
        st.info("Похожих кадров в индексе нет: серии снимков и копии одного кадра не найдены.")
        return
    st.markdown(
        f"Групп: **{groups}**, в них {shots(photos)}. Первым в группе стоит лучший кадр (самый большой, "
        "потом самый ранний). Мы ничего не удаляем: решать вам."
    )


def group_title(number: int, size: int) -> None:
    st.subheader(f"Группа {number}: {shots(size)}")
