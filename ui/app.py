"""The search page. Run: streamlit run ui/app.py -- --index data/index   (or: python -m ui)

Streamlit runs this script top to bottom on every interaction; widget callbacks change
st.session_state first. The flow: settings -> open the index (cached per process) -> sidebar
(stats, filters) -> query (text, example picture) -> search -> grid -> large view.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

try:
    import ui  # noqa: F401 - installed with the project (pip install -e .)
except ImportError:  # a plain checkout: `streamlit run ui/app.py` puts only ui/ on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from search.clip.preprocess import load_image
from search.constants import DEMO_MODEL
from search.errors import ImageLoadError, RuClipError
from search.index import Hit, PhotoIndex
from search.query import QueryError
from ui import views
from ui.folders import photo_folders
from ui.loading import FirstBuildRunning, NoIndex, open_state
from ui.settings import read_settings
from ui.thumbnails import jpeg_of, preview, thumbnail


@st.cache_resource
def _thumbnail_pool() -> ThreadPoolExecutor:
    """Thumbnails of one page are made side by side (Pillow decodes without holding the GIL); one
    pool per process, since this script runs again on every interaction."""
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="thumbnails")


def _state_defaults() -> None:
    defaults = {"similar": None, "opened": None, "hits": {}, "upload_round": 0, "uploads": {}}
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


def similar_to(image_id: int) -> None:
    hit = st.session_state.hits.get(image_id)
    if hit is None:  # the results changed under the click (a build replaced the photo): nothing to do
        return
    st.session_state.similar = hit
    st.session_state.opened = None
    st.session_state.upload_round += 1  # a new uploader key: the uploaded example is dropped


def clear_example() -> None:
    st.session_state.similar = None
    st.session_state.upload_round += 1


def uploaded_instead() -> None:
    st.session_state.similar = None


def picture_or_reason(make: Callable[[], bytes]) -> bytes | str:
    """The picture, or why it cannot be shown (the card then says so instead of breaking the page)."""
    try:
        return make()
    except ImageLoadError as exc:
        return f"Не показать: {exc}"


def uploaded_example(index: PhotoIndex, upload: UploadedFile) -> tuple[np.ndarray, bytes]:
    """The upload's embedding and a JPEG to show it back, computed once per uploaded file."""
    cache = st.session_state.uploads
    if upload.file_id not in cache:
        image = load_image(upload)  # raises ImageLoadError naming the file for anything unreadable
        vector = index.model.encode_images([image])[0]
        cache.clear()  # one upload is kept: they are big
        cache[upload.file_id] = (vector, jpeg_of(image))
    return cache[upload.file_id]


@st.dialog("Фото", width="large", on_dismiss=close_hit)
def large_view(hit: Hit, roots: list[str]) -> None:
    views.details(hit, picture_or_reason(lambda: preview(hit.path, roots)))
    if st.button("Похожие на это фото", key="dialog-similar"):
        st.session_state.hits[hit.id] = hit
        similar_to(hit.id)
        st.rerun()


def main() -> None:
    st.set_page_config(page_title="Поиск по фото", layout="wide")
    settings = read_settings(sys.argv[1:])
    _state_defaults()
    st.title("Поиск по фотографиям")
    try:
        state = open_state(settings.index, settings.device, settings.text_precision)
    except RuClipError as exc:
        st.error(str(exc))
        st.stop()
    if isinstance(state, NoIndex):
        views.no_index(state.folder)
        st.stop()
    if isinstance(state, FirstBuildRunning):
        views.first_build_running(state.folder)
        st.stop()
    index: PhotoIndex = state

    try:
        stats = index.stats()
        failures = index.failures(limit=50) if stats.failed else []
    except RuClipError as exc:  # index.sqlite damaged in a page that opening it did not read
        st.error(str(exc))
        st.stop()
    views.sidebar_summary(stats, failures)
    chosen = views.filters(stats, photo_folders(stats.roots, skip=str(index.folder)))
    demo = stats.model == DEMO_MODEL

    typed, dropped = st.columns([3, 2])
    with typed:
        text = views.query_box(demo)
    st.query_params["q"] = text
    upload = dropped.file_uploader(
        "Или похожие на своё фото",
        type=views.UPLOAD_TYPES,
        key=f"upload-{st.session_state.upload_round}",
        on_change=uploaded_instead,
    )
    similar: Hit | None = st.session_state.similar
    example, weight = None, 1.0
    if similar is not None:
        example = similar.id
        shown = picture_or_reason(lambda: thumbnail(index.folder, similar.id, similar.path, stats.roots))
        picture = shown if isinstance(shown, bytes) else None
        weight = views.example_banner(Path(similar.path).name, picture, clear_example)
    elif upload is not None:
        try:
            example, shown = uploaded_example(index, upload)
        except ImageLoadError as exc:
            st.error(f"Не удалось прочитать загруженный файл: {exc}")
            st.stop()
        weight = views.example_banner(upload.name, shown, clear_example)

    if not text.strip() and example is None:
        views.welcome(demo, use_example)
        st.stop()
    try:
        hits = index.search(
            text or None,
            image=example,
            image_weight=weight,
            k=chosen.k,
            folder=chosen.folder,
            date_from=chosen.date_from,
            date_to=chosen.date_to,
            exclude=[similar.id] if similar is not None else (),
        )
    except (QueryError, RuClipError) as exc:
        st.error(str(exc))
        st.stop()
    confident = [hit for hit in hits if hit.score >= chosen.min_score]
    st.session_state.hits = {hit.id: hit for hit in hits}
    if not hits:
        filtered = chosen.folder or chosen.date_from
        st.info("Ни одно фото не подходит под фильтры слева." if filtered else "В индексе нет фото.")
    elif not confident:
        views.no_confident_matches(hits[0].score, chosen.min_score)
    else:
        pictures = list(
            _thumbnail_pool().map(
                lambda hit: picture_or_reason(lambda: thumbnail(index.folder, hit.id, hit.path, stats.roots)),
                confident,
            )
        )
        views.results_grid(confident, pictures, open_hit, similar_to)

    opened = st.session_state.hits.get(st.session_state.opened)
    if opened is not None:
        large_view(opened, stats.roots)


main()
