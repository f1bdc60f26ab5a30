"""The model and the index, opened once per process and shared by every browser session.

Streamlit runs each session in its own thread; the objects cached here are shared by all of them,
so nothing here is mutated after it is made (PhotoIndex is thread-safe and picks up new builds by
itself). What the index folder is in right now (no index, first build running, ready) is told
apart here so that the page can say what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from search import DATABASE_FILE, PhotoIndex, RuClip, load_model, recorded_model, resolve_model
from search.errors import CheckpointError, ModelNotFoundError, ModelProblem, RuClipError


@dataclass(frozen=True)
class NoIndex:
    folder: Path


@dataclass(frozen=True)
class FirstBuildRunning:
    folder: Path


IndexState = NoIndex | FirstBuildRunning | PhotoIndex


class ModelUnavailable(RuClipError):
    """The index's model could not be loaded; `name` is the model the index records, `reason` the
    library's (ModelNotFoundError.reason, or DAMAGED for a CheckpointError)."""

    def __init__(self, name: str, reason: ModelProblem):
        super().__init__(f"the model {name} of this index cannot be loaded: {reason.value}")
        self.name, self.reason = name, reason


@st.cache_resource(show_spinner=False, max_entries=2)
def _model(name: str, device: str, text_precision: str) -> RuClip:
    return load_model(name, device=device, text_precision=text_precision)


@st.cache_resource(show_spinner=False, max_entries=4)
def _index(
    folder: str, database_identity: tuple[int, int], model_name: str, device: str, text_precision: str
) -> PhotoIndex:
    # database_identity is only part of the key: a folder deleted and built again holds a new
    # database file (another inode), which an index opened on the old one would never see.
    return PhotoIndex(folder, model=_model(model_name, device, text_precision))


def _needs_download(name: str) -> bool:
    """Whether loading `name` starts with a download (a published model not in the cache yet)."""
    try:
        resolve_model(name, download=False)
        return False
    except ModelNotFoundError as exc:
        return exc.reason is ModelProblem.NOT_DOWNLOADED


def open_state(folder: Path, device: str, text_precision: str = "fp32") -> IndexState:
    """What is in `folder`: no index, a first build still running, or an opened index.

    Raises ModelUnavailable when the index's model cannot be loaded, and IndexStoreError (another
    model's index, damaged files); ui.messages words both for the user.
    """
    database = folder / DATABASE_FILE
    try:
        stat = database.stat()
    except FileNotFoundError:
        return NoIndex(folder)
    model_name = recorded_model(folder)
    if model_name is None:
        return FirstBuildRunning(folder)
    if _needs_download(model_name):
        message = f"Скачиваю модель {model_name} с Hugging Face: это нужно один раз, дальше она берётся из кэша…"
    else:
        message = f"Загружаю модель {model_name}…"
    try:
        with st.spinner(message):
            return _index(str(folder.resolve()), (stat.st_dev, stat.st_ino), model_name, device, text_precision)
    except (ModelNotFoundError, CheckpointError) as exc:
        raise ModelUnavailable(model_name, exc.reason) from exc
