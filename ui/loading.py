"""The model and the index, opened once per process and shared by every browser session.

Streamlit runs each session in its own thread; the objects cached here are shared by all of them,
so nothing here is mutated after it is made (PhotoIndex is thread-safe and picks up new builds by
itself). What the index folder is in right now (no index, first build running, ready) is told
apart here so that the page can say what to do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import streamlit as st

from search import PhotoIndex, recorded_model
from search.clip.encoder import RuClip, load_model
from search.clip.hub import published_name, resolve_model
from search.constants import DEMO_MODEL
from search.errors import CheckpointError, ModelNotFoundError, RuClipError
from search.store import DATABASE_FILE


@dataclass(frozen=True)
class NoIndex:
    folder: Path


@dataclass(frozen=True)
class FirstBuildRunning:
    folder: Path


IndexState = NoIndex | FirstBuildRunning | PhotoIndex


class ModelProblem(Enum):
    """Why the model an index was built with cannot be loaded here, told from where it should be."""

    DEMO_MISSING = "demo missing"  # the packaged demo model is gone from the installation
    NOT_DOWNLOADED = "not downloaded"  # a published model, not cached, and the download failed
    FOLDER_MISSING = "folder missing"  # a model folder that is not there (moved, an unmounted disk)
    INCOMPLETE = "incomplete"  # a model folder without all its files
    DAMAGED = "damaged"  # its files are there but unreadable or of another version


class ModelUnavailable(RuClipError):
    """The index's model could not be loaded; `name` is the model the index records."""

    def __init__(self, name: str, reason: ModelProblem):
        super().__init__(f"the model {name} of this index cannot be loaded: {reason.value}")
        self.name, self.reason = name, reason


def model_problem(name: str, error: ModelNotFoundError | CheckpointError) -> ModelProblem:
    """What is wrong with the model `name`, from the error and from what is on disk."""
    if isinstance(error, CheckpointError):
        return ModelProblem.DAMAGED
    if name == DEMO_MODEL:
        return ModelProblem.DEMO_MISSING
    folder = Path(name).expanduser()
    if folder.is_dir():
        return ModelProblem.INCOMPLETE
    if published_name(name) is not None:
        return ModelProblem.NOT_DOWNLOADED
    return ModelProblem.FOLDER_MISSING


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
    if published_name(name) is None or os.path.isdir(name):
        return False  # the demo model or a local folder
    try:
        resolve_model(name, download=False)
        return False
    except ModelNotFoundError:
        return True


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
        raise ModelUnavailable(model_name, model_problem(model_name, exc)) from exc
