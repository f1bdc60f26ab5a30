"""The search page, drawn by ui/app.py (which shows its title first: this module imports torch).

Streamlit runs the script top to bottom on every interaction; widget callbacks change
st.session_state first. The flow, one function a step: settings -> open the index (loaded in the
background once per process; opened_index: a loading note until it is ready) -> sidebar (stats,
filters) -> query (text, example picture; read_query)
-> one SearchRequest (search_request) -> search (found) -> grid, or why there is none (show_results)
-> large view. An error on the way is shown in Russian
(ui/messages.py, by its type and reason) and ends the run: stop_with.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NoReturn

import numpy as np
import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.runtime.uploaded_file_manager import UploadedFile

from search import Failure, Hit, IndexStats, LabelError, PhotoIndex, SearchRequest, SearchResults
from search.commands import indexer_command
from search.constants import DEMO_MODEL
from search.errors import ImageLoadError, RuClipError
from search.images import decode_upload, jpeg_of
from ui import labels_view, messages, views
from ui.folders import folder_choices
from ui.loading import FirstBuildRunning, Loading, NoIndex, open_state
from ui.settings import Settings, read_settings
from ui.thumbnails import preview, thumbnail

HISTOGRAM_PHOTOS = 5000  # the best-scoring photos whose scores the sidebar's histogram shows
GROUPS_SHOWN = 30  # near-duplicate groups listed on the «Похожие кадры» view, largest first
PER_GROUP_SHOWN = 4  # thumbnails per group there (the rest are counted)


@st.cache_resource
def _thumbnail_pool() -> ThreadPoolExecutor:
    """Thumbnails of one page are made side by side (Pillow decodes without holding the GIL); one
    pool per process, since this script runs again on every interaction."""
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="thumbnails")


def _state_defaults() -> None:
    defaults = {
        "similar": None,
        "opened": None,
        "hits": {},
        "upload_round": 0,
        "uploads": {},
        "shots_of": None,  # the card whose folded near-duplicates are shown
        "groups_view": False,  # the list of near-duplicate groups instead of the search
        "overview": False,  # the «Обзор»: tiles of the tags and categories instead of the search
        "label_note": None,  # (kind, text) said once after a category was taught, corrected or removed
        "ocr_text": True,  # «Текст на фото»: the query's words looked for in the photos' text too
    }
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)
    if "query" not in st.session_state:  # a shared link: ?q=...
        st.session_state.query = st.query_params.get("q", "")


def use_example(text: str) -> None:
    st.session_state.query = text


def open_hit(image_id: int) -> None:
    st.session_state.opened = image_id


def close_hit() -> None:
    st.session_state.opened = None


def show_shots(image_id: int) -> None:
    st.session_state.shots_of = image_id


def close_shots() -> None:
    st.session_state.shots_of = None


def open_groups() -> None:
    st.session_state.groups_view = True


def close_groups() -> None:
    st.session_state.groups_view = False


def open_overview() -> None:
    st.session_state.overview = True
    st.session_state.groups_view = False


def close_overview() -> None:
    st.session_state.overview = False


def _only_labels() -> None:
    """A tile's photos alone: no words, no example, the search view."""
    st.session_state.query = ""
    st.session_state.similar = None
    st.session_state.upload_round += 1
    st.session_state.overview = False


def show_tag(name: str) -> None:
    _only_labels()
    st.session_state.tags = [name]
    st.session_state.category = messages.ALL_PHOTOS


def show_category(name: str) -> None:
    _only_labels()
    st.session_state.tags = []
    st.session_state.category = name


def _unticked() -> None:
    marks = (f"{labels_view.PICK}-", f"{labels_view.WRONG}-")
    for key in [key for key in st.session_state if str(key).startswith(marks)]:
        del st.session_state[key]


def _label_change(index: PhotoIndex, change: Callable[[], str]) -> None:
    """Run a change of the categories; say what came of it (or, in Russian, why not) on the next run.
    The categories live in the index, which every session shares: each run reads them again."""
    try:
        said = change()
    except LabelError as exc:
        st.session_state.label_note = ("error", messages.explained(exc, index.folder))
        return
    st.session_state.label_note = ("success", said)
    _unticked()


def teach(index: PhotoIndex, name: str, examples: list[int], words: str) -> None:
    """«Научить»: a new category from the ticked photos; its photos are shown next."""

    def change() -> str:
        category = index.labels.add_category(name, examples, text=words or None)
        show_category(category.name)
        st.session_state.teaching = False  # the category's own panel takes over: «не то», «Переобучить»
        return messages.category_taught(category.name, len(category.examples), category.members)

    _label_change(index, change)


def _retrained(index: PhotoIndex, name: str, examples: list[int], wrong: list[int]) -> str:
    before = index.labels.category(name).members
    after = index.labels.correct_category(name, examples, wrong)
    return messages.category_retrained(after.name, before, after.members)


def correct(index: PhotoIndex, name: str, examples: list[int], wrong: list[int]) -> None:
    """«Переобучить»: the ticked «не то» ruled out, the ticked «пример» added, fitted again."""
    _label_change(index, lambda: _retrained(index, name, examples, wrong))


def add_examples(index: PhotoIndex, name: str, examples: list[int]) -> None:
    """«Добавить примеры»: photos ticked among any results join a category's examples; it is shown next."""

    def change() -> str:
        said = _retrained(index, name, examples, [])
        show_category(name)
        st.session_state.teaching = False
        return said

    _label_change(index, change)


def remove(index: PhotoIndex, name: str) -> None:
    def change() -> str:
        index.labels.remove_category(name)
        st.session_state.category = messages.ALL_PHOTOS
        return messages.category_removed(name)

    _label_change(index, change)


def similar_to(image_id: int) -> None:
    hit = st.session_state.hits.get(image_id)
    if hit is None:  # the results changed under the click (a build replaced the photo): nothing to do
        return
    st.session_state.similar = hit
    st.session_state.opened = None
    # The old words would still refine the search, unseen behind the new banner: «Похожие» means
    # this photo alone; the banner invites new words.
    st.session_state.query = ""
    st.session_state.upload_round += 1  # a new uploader key: the uploaded example is dropped


def clear_example() -> None:
    st.session_state.similar = None
    st.session_state.upload_round += 1


def uploaded_instead() -> None:
    st.session_state.similar = None


def stop_with(error: Exception, folder: Path) -> NoReturn:
    """Show `error` in Russian (ui/messages.py) and end this run of the script."""
    st.error(messages.explained(error, folder))
    st.stop()


def picture_or_reason(make: Callable[[], bytes]) -> bytes | str:
    """The picture, or why it cannot be shown (the card then says so instead of breaking the page)."""
    try:
        return make()
    except ImageLoadError as exc:
        return messages.not_shown(exc)


def uploaded_example(index: PhotoIndex, upload: UploadedFile) -> tuple[np.ndarray, bytes]:
    """The upload's embedding and a JPEG to show it back, computed once per uploaded file.

    Decoded small and with a pixel cap (search/images/uploads.py): the page may serve many people at once.
    Raises ImageLoadError (UploadTooLarge among them) for a file that cannot be the example.
    """
    cache = st.session_state.uploads
    if upload.file_id not in cache:
        image = decode_upload(upload, upload.name, index.model.config.image_resolution)
        vector = index.model.encode_images([image])[0]
        cache.clear()  # one upload is kept
        cache[upload.file_id] = (vector, jpeg_of(image))
    return cache[upload.file_id]


@st.dialog("Фото", width="large", on_dismiss=close_hit)
def large_view(hit: Hit, roots: list[str]) -> None:
    views.details(hit, picture_or_reason(lambda: preview(hit.path, roots)))
    st.button("Похожие на это фото", key="dialog-similar", on_click=_similar_to_opened, args=(hit,))


def _similar_to_opened(hit: Hit) -> None:
    st.session_state.hits[hit.id] = hit
    similar_to(hit.id)


@st.dialog("Похожие кадры", width="large", on_dismiss=close_shots)
def shots_view(index: PhotoIndex, hit: Hit, roots: list[str]) -> None:
    """The photos folded into a card: its near-duplicate group, the best representative first."""
    group = next((g for g in index.duplicate_groups() if hit.id in g.ids), None)
    if group is None:  # a build changed the index since the search: the group is gone
        st.info("Этой группы похожих кадров больше нет: индекс обновился.")
        return
    st.markdown(f"**{os.path.basename(hit.path)}** и {views.similar_shots(len(group) - 1)}. Ничего не удаляется.")
    views.group_pictures(list(group.hits), _thumbnails(index, list(group.hits), roots))


def _thumbnails(index: PhotoIndex, hits: list[Hit], roots: list[str]) -> list[bytes | str]:
    return list(
        _thumbnail_pool().map(
            lambda hit: picture_or_reason(lambda: thumbnail(index.folder, hit.id, hit.path, roots)), hits
        )
    )


def groups_page(index: PhotoIndex, stats: IndexStats) -> None:
    """Every near-duplicate group, largest first, a few thumbnails each."""
    try:
        groups = index.duplicate_groups()
    except RuClipError as exc:
        stop_with(exc, index.folder)
    views.groups_header(len(groups), sum(len(group) for group in groups), close_groups)
    for number, group in enumerate(groups[:GROUPS_SHOWN], 1):
        views.group_title(number, len(group))
        shown = list(group.hits[:PER_GROUP_SHOWN])
        views.group_pictures(shown, _thumbnails(index, shown, stats.roots))
        if len(group) > PER_GROUP_SHOWN:
            st.caption(f"и {views.shots(len(group) - PER_GROUP_SHOWN)} ещё")
    if len(groups) > GROUPS_SHOWN:
        every = f'{indexer_command()} duplicates --index "{index.folder}"'  # the command for all of them
        st.caption(f"Показаны {GROUPS_SHOWN} самых больших групп из {len(groups)}: `{every}`")


@dataclass(frozen=True)
class Query:
    """What the user asks for: words, an example picture (an indexed photo's id or an upload's
    embedding) and its weight against the words, and the indexed photo chosen as the example."""

    text: str
    example: int | np.ndarray | None
    weight: float
    similar: Hit | None
    ocr: str = "auto"  # SearchRequest.ocr: "off" when «Текст на фото» is turned off


POLL_S = 0.3  # how often a page waiting for the model looks whether it is loaded


@st.fragment(run_every=POLL_S)
def _wait_for(ready: Future) -> None:
    """Reruns the page once the model is loaded (or has failed: the page then says why)."""
    if ready.done():
        st.rerun(scope="app")


def opened_index(settings: Settings, waiting: DeltaGenerator) -> tuple[PhotoIndex, IndexStats, list[Failure]]:
    """The index with what it holds; anything else (no index yet, a first build, the model still
    loading, an error) is shown instead, in `waiting` for the model, and the run ends here."""
    try:
        state = open_state(settings.index, settings.device, settings.text_precision)
    except RuClipError as exc:
        waiting.empty()
        stop_with(exc, settings.index)
    if isinstance(state, Loading):
        views.model_loading(waiting, state.model, state.downloading)
        _wait_for(state.ready)
        st.stop()
    waiting.empty()
    if isinstance(state, NoIndex):
        views.no_index(state.folder)
        st.stop()
    if isinstance(state, FirstBuildRunning):
        views.first_build_running(state.folder)
        st.stop()
    try:
        stats = state.stats()
        failures = state.failures(limit=50) if stats.failed else []
    except RuClipError as exc:  # index.sqlite damaged in a page that opening it did not read
        stop_with(exc, settings.index)
    return state, stats, failures


def read_query(index: PhotoIndex, stats: IndexStats, demo: bool) -> Query:
    """The query box and the example picture (a photo chosen with «Похожие», or an upload)."""
    typed, dropped = st.columns([3, 2])
    with typed:
        text = views.query_box(demo)
        # Only where some photo's text was read; elsewhere "auto" still says why a quoted word finds nothing.
        ocr = "auto" if not stats.with_text or views.text_toggle() else "off"
    st.query_params["q"] = text
    with dropped:
        upload = views.example_uploader(f"upload-{st.session_state.upload_round}", uploaded_instead)
    similar: Hit | None = st.session_state.similar
    if similar is not None:
        shown = picture_or_reason(lambda: thumbnail(index.folder, similar.id, similar.path, stats.roots))
        picture = shown if isinstance(shown, bytes) else None
        weight = views.example_banner(Path(similar.path).name, picture, clear_example)
        return Query(text, similar.id, weight, similar, ocr)
    if upload is not None:
        try:
            vector, shown = uploaded_example(index, upload)
        except ImageLoadError as exc:
            st.error(messages.upload_refused(upload.name, exc))
            st.stop()
        weight = views.example_banner(upload.name, shown, clear_example)
        return Query(text, vector, weight, None, ocr)
    return Query(text, None, 1.0, None, ocr)


def search_request(
    index: PhotoIndex, query: Query, chosen: views.Filters, labelled: labels_view.LabelFilters
) -> SearchRequest:
    """The one request of this run, for the hits and the histogram alike; a query the language
    cannot read («кот +» has an empty term) is told so, and the run ends here."""
    try:
        return SearchRequest.of(
            query.text or None,
            image=query.example,
            image_weight=query.weight,
            k=chosen.k,
            folder=chosen.folder,
            date_from=chosen.date_from,
            date_to=chosen.date_to,
            min_score=chosen.min_score,
            exclude=[query.similar.id] if query.similar is not None else (),
            collapse_duplicates=chosen.collapse,
            tags=labelled.tags,
            category=labelled.category,
            ocr=query.ocr,
        )
    except RuClipError as exc:
        stop_with(exc, index.folder)


def found(index: PhotoIndex, request: SearchRequest) -> SearchResults:
    """The hits over the threshold, or why there is none (the results' empty reason)."""
    try:
        return index.run(request)
    except RuClipError as exc:  # an unknown example id, words and weights that cancel out
        stop_with(exc, index.folder)


def scores_are_cosines(index: PhotoIndex, request: SearchRequest) -> bool:
    """Whether the histogram of the query's cosines over the photos the filters let through says
    something of the hits: not when the photos' text alone ranks them (quoted words alone, or words
    the model does not know but some photo holds: their scores are no cosines), nor when quoted
    words keep only the photos holding them (PhotoIndex.scores_of knows nothing of the text)."""
    if request.words_only or request.text_query.required:
        return False
    return request.image is not None or not request.terms or index.unknown_query(request.text) is None


def score_distribution(index: PhotoIndex, request: SearchRequest) -> None:
    """The query's scores over the photos that pass the filters, with the threshold marked, in the
    sidebar: the user sees whether the threshold cuts between matches and the rest."""
    scores = index.scores_of(request, HISTOGRAM_PHOTOS)
    with st.sidebar:
        views.score_histogram(scores, request.min_score, HISTOGRAM_PHOTOS)


def overview_page(index: PhotoIndex, stats: IndexStats) -> None:
    """The «Обзор»: every tag and category some photo has, a tile each with its best photo."""
    try:
        tags, categories = index.labels.tags(), index.labels.categories()
        covers = [i for i in {*(t.cover_id for t in tags), *(c.cover_id for c in categories)} if i is not None]
        paths = index.labels.paths_of(covers)
    except RuClipError as exc:
        stop_with(exc, index.folder)
    pictures = dict(
        zip(
            paths,
            _thumbnail_pool().map(
                lambda i: picture_or_reason(lambda: thumbnail(index.folder, i, paths[i], stats.roots)), paths
            ),
            strict=True,
        )
    )
    labels_view.overview(tags, categories, pictures, show_tag, show_category, close_overview)


def show_results(
    index: PhotoIndex,
    stats: IndexStats,
    hits: SearchResults,
    request: SearchRequest,
    marks: Callable[[Hit], None] | None = None,
) -> None:
    """The grid of the hits, or why there is none (ui/messages.py words the reason)."""
    if not hits:
        said = messages.nothing_found(hits, request.min_score, index.folder)
        if hits.empty_reason in messages.WARNED_EMPTY:
            st.warning(said)
        else:
            st.info(said)
        return
    pictures = list(
        _thumbnail_pool().map(
            lambda hit: picture_or_reason(lambda: thumbnail(index.folder, hit.id, hit.path, stats.roots)), hits
        )
    )
    views.results_grid(hits, pictures, open_hit, similar_to, show_shots, marks)


def preload(argv: list[str]) -> None:
    """Starts loading the index's model for the page's arguments `argv`, without a session: called in
    a thread while a session's first run is drawn. What goes wrong is the session's own run to say."""
    settings = read_settings(argv)
    try:
        open_state(settings.index, settings.device, settings.text_precision)
    except Exception:  # noqa: BLE001, S110 - the page opens the index again, and shows the error
        pass


def main(waiting: DeltaGenerator) -> None:
    """The page under its title (ui/app.py draws it); `waiting` is the place for the loading note."""
    settings = read_settings(sys.argv[1:])
    _state_defaults()
    index, stats, failures = opened_index(settings, waiting)
    views.sidebar_summary(stats, failures, index.folder)
    chosen = views.filters(stats, folder_choices(stats.roots, skip=str(index.folder)))
    try:
        tags, categories = index.labels.tags(), index.labels.categories()  # read again: another session may teach
    except RuClipError as exc:
        stop_with(exc, index.folder)
    labelled = labels_view.label_filters(tags, categories)
    st.sidebar.button("Обзор", key="overview-view", on_click=open_overview, help=messages.OVERVIEW_HELP)
    st.sidebar.button("Похожие кадры", key="groups-view", on_click=open_groups, help="Серии и копии одного кадра")
    teaching = st.sidebar.toggle("Научить категорию", key="teaching", help=messages.TEACHING_HELP)
    if st.session_state.overview:
        overview_page(index, stats)
        st.stop()
    if st.session_state.groups_view:
        groups_page(index, stats)
        st.stop()
    demo = stats.model == DEMO_MODEL

    query = read_query(index, stats, demo)
    note = st.session_state.label_note
    if note is not None:
        st.session_state.label_note = None
        (st.error if note[0] == "error" else st.success)(note[1])
    if not query.text.strip() and query.example is None and not labelled.active:
        views.welcome(demo, use_example)
        st.stop()
    request = search_request(index, query, chosen, labelled)
    hits = found(index, request)
    st.session_state.hits = {hit.id: hit for hit in hits}
    if hits.best_score is not None and scores_are_cosines(index, request):  # found, over the threshold or not
        score_distribution(index, request)
    if labelled.category is not None:
        labels_view.category_panel(list(hits), labelled.category, partial(correct, index), partial(remove, index))
    elif teaching:
        labels_view.teach_panel(
            list(hits), labels_view.usable(categories), partial(teach, index), partial(add_examples, index)
        )
    show_results(index, stats, hits, request, lambda hit: labels_view.card_marks(hit, teaching, labelled.category))

    opened = st.session_state.hits.get(st.session_state.opened)
    if opened is not None:
        large_view(opened, stats.roots)
    folded = st.session_state.hits.get(st.session_state.shots_of)
    if folded is not None and opened is None:
        shots_view(index, folded, stats.roots)
