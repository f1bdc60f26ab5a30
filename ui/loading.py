"""The model and the index, loaded once per process in the background and shared by every session.

Streamlit runs each session in its own thread; the objects made here are shared by all of them, so
nothing here is mutated after it is made (PhotoIndex is thread-safe and picks up new builds by
itself). Loading a model takes seconds, so it runs in a thread of its own, started by the first
session that needs it: the page is drawn at once with a Russian loading note (a Loading state),
and the sessions waiting on the same model wait on the same load. What the index folder is in right
now (no index, first build running, model loading, ready) is told apart here so that the page can
say what to do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st

from search import DATABASE_FILE, PhotoIndex, load_search_model, recorded_model, resolve_model
from search.errors import CheckpointError, ModelNotFoundError, ModelProblem, RuClipError

T = TypeVar("T")
SearchModel = Any  # search.RuClip, or on a CPU its ONNX Runtime twin (what search.load_search_model returns)


@dataclass(frozen=True)
class NoIndex:
    folder: Path


@dataclass(frozen=True)
class FirstBuildRunning:
    folder: Path


@dataclass(frozen=True)
class Loading:
    """The index's model is being loaded (`downloading`: fetched from Hugging Face first); `ready`
    is done when it is loaded or has failed: open_state then returns the index or raises."""

    folder: Path
    model: str
    downloading: bool
    ready: Future


IndexState = NoIndex | FirstBuildRunning | Loading | PhotoIndex


class ModelUnavailable(RuClipError):
    """The index's model could not be loaded; `name` is the model the index records, `reason` the
    library's (ModelNotFoundError.reason, or DAMAGED for a CheckpointError)."""

    def __init__(self, name: str, reason: ModelProblem):
        super().__init__(f"the model {name} of this index cannot be loaded: {reason.value}")
        self.name, self.reason = name, reason


def _in_thread(make: Callable[[], T], name: str) -> Future[T]:
    """`make()` run in a daemon thread of its own (a stopped server does not wait for a download)."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(make())
        except BaseException as exc:  # noqa: BLE001 - handed to the session that reads the future
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


class Loads:
    """The loads this server has started: one per model, one per index folder's database file.

    A failed load is forgotten once a session has read its error, so that refreshing the page
    (after the user put the model back) tries again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[tuple[str, str, str], Future[SearchModel]] = {}
        self._indexes: dict[tuple[str, tuple[int, int], str, str, str], Future[PhotoIndex]] = {}
        self.models_started = 0  # how many model loads this server began (one per model, once loaded)

    def index(
        self, folder: str, database_identity: tuple[int, int], model_name: str, device: str, text_precision: str
    ) -> Future[PhotoIndex]:
        # database_identity is part of the key: a folder deleted and built again holds a new
        # database file (another inode), which an index opened on the old one would never see.
        key = (folder, database_identity, model_name, device, text_precision)
        with self._lock:
            if key in self._indexes:
                return self._indexes[key]
            for old in [other for other in self._indexes if other[0] == folder]:
                del self._indexes[old]  # the folder's previous database: nobody opens it again
            model = self._model((model_name, device, text_precision))
            loaded = _in_thread(lambda: PhotoIndex(folder, model=model.result()), f"open {folder}")
            self._indexes[key] = loaded
            return loaded

    def _model(self, key: tuple[str, str, str]) -> Future[SearchModel]:
        if key not in self._models:
            name, device, text_precision = key
            self.models_started += 1
            self._models[key] = _in_thread(lambda: load_search_model(name, device, text_precision), f"load {name}")
        return self._models[key]

    def forget_failed(self) -> None:
        with self._lock:
            for loads in (self._models, self._indexes):
                for key in [key for key, future in loads.items() if future.done() and future.exception()]:
                    del loads[key]


@st.cache_resource(show_spinner=False)
def loads() -> Loads:
    """The one Loads of this server process, shared by its sessions."""
    return Loads()


def _needs_download(name: str) -> bool:
    """Whether loading `name` starts with a download (a published model not in the cache yet)."""
    try:
        resolve_model(name, download=False)
        return False
    except ModelNotFoundError as exc:
        return exc.reason is ModelProblem.NOT_DOWNLOADED


def open_state(folder: Path, device: str, text_precision: str = "fp32") -> IndexState:
    """What is in `folder`: no index, a first build still running, its model loading, or an opened index.

    Never waits for a model: the first call starts its load and returns Loading. Raises
    ModelUnavailable when the index's model cannot be loaded, and IndexStoreError (another model's
    index, damaged files); ui.messages words both for the user.
    """
    database = folder / DATABASE_FILE
    try:
        stat = database.stat()
    except FileNotFoundError:
        return NoIndex(folder)
    model_name = recorded_model(folder)
    if model_name is None:
        return FirstBuildRunning(folder)
    shared = loads()
    future = shared.index(str(folder.resolve()), (stat.st_dev, stat.st_ino), model_name, device, text_precision)
    if not future.done():
        return Loading(folder, model_name, _needs_download(model_name), future)
    error = future.exception()
    if error is None:
        return future.result()
    shared.forget_failed()
    if isinstance(error, (ModelNotFoundError, CheckpointError)):
        raise ModelUnavailable(model_name, error.reason) from error
    raise error
