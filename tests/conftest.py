"""Shared fixtures: the golden reference outputs (copied from shared/golden), model folders, and the
indexes several modules search, each built once per session.

The index fixtures are read-only: a test that changes an index copies it first (shutil.copytree of
the index folder; the photos stay where the index recorded them) or builds its own.
"""

from __future__ import annotations

import json
import os
import tempfile
from types import ModuleType

import numpy as np
import pytest

import search
from search import i18n
from search.testing import reference_model_module

from .helpers import (
    GOLDEN,
    TINY_MODEL,
    Collection,
    LabelledCollection,
    make_burst_collection,
    make_copies_collection,
    make_labelled_collection,
    make_three_photo_collection,
)

# The suite reads the tools' messages in English: the texts the code is written in (the catalogue's
# ids), which the assertions quote. The terminal's default is Russian and follows the locale
# (search/i18n.py), so a developer's LANG would otherwise change what every test reads. Set for the
# whole session, before any fixture builds an index (a failed file's message is stored as it was
# said), and inherited by the CLIs' subprocesses: LANGUAGE comes first in GNU gettext's order.
# tests/test_messages.py checks the Russian default by unsetting it.
os.environ["LANGUAGE"] = "en"
# The ONNX exports of the test models (search/clip/onnx_files.py) and the other caches go to a folder of
# the session's, not the developer's ~/.cache; each model is exported once per session.
os.environ["RUPHOTO_CACHE"] = tempfile.mkdtemp(prefix="ruphoto-test-cache-")
# No command-line search leaves a warm helper process behind (tests/test_search_helper.py starts its own).
os.environ["RUPHOTO_SEARCH_HELPER_IDLE"] = "0"


@pytest.fixture(autouse=True)
def _follow_the_environment_language():
    """A test that pins a language (search.i18n.use_language) leaves the next ones to the environment."""
    yield
    i18n.use_language(None)


@pytest.fixture(scope="session")
def golden() -> dict:
    manifest = json.loads((GOLDEN / "manifest.json").read_text(encoding="utf-8"))
    arrays = dict(np.load(GOLDEN / "reference.npz"))
    return {
        "texts": manifest["texts"],
        "images": [GOLDEN / "images" / name for name in manifest["images"]],
        **arrays,
    }


@pytest.fixture(scope="session")
def tiny_model() -> search.RuClip:
    return search.load_model(TINY_MODEL, device="cpu")


@pytest.fixture(scope="session")
def tiny_onnx_model():
    """The tiny checkpoint exported and run by ONNX Runtime, as a CPU build and a search load it."""
    from search.clip.folder import file_fingerprint, find_weights
    from search.clip.onnx_model import load_onnx_model

    model = load_onnx_model(str(TINY_MODEL), TINY_MODEL, file_fingerprint(find_weights(TINY_MODEL)), "image")
    assert model is not None, "the tiny model could not be exported for ONNX Runtime"
    return model


@pytest.fixture(scope="session")
def reference() -> ModuleType:
    module = reference_model_module()
    if module is None:
        pytest.fail("the reference ruclip 0.0.2 is not installed: pip install --no-deps ruclip==0.0.2")
    return module


@pytest.fixture(scope="session")
def labelled_collection(tmp_path_factory) -> LabelledCollection:
    return make_labelled_collection(tmp_path_factory.mktemp("labelled"))


@pytest.fixture(scope="session")
def burst_collection(tmp_path_factory) -> Collection:
    """A red star with a half-size and a quality-60 copy of it (in копии/), and four distinct photos."""
    return make_burst_collection(tmp_path_factory.mktemp("bursts"))


@pytest.fixture(scope="session")
def copies_collection(tmp_path_factory) -> Collection:
    """A red star, the same file again in копия/, a blue circle and a green square."""
    return make_copies_collection(tmp_path_factory.mktemp("copies"))


@pytest.fixture(scope="session")
def three_photo_collection(tmp_path_factory) -> Collection:
    """A red star, a blue circle and a yellow square, one photo each."""
    return make_three_photo_collection(tmp_path_factory.mktemp("three"))
