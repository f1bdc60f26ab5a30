"""Shared fixtures: the golden reference outputs (copied from shared/golden) and model folders."""

from __future__ import annotations

import json
from types import ModuleType

import numpy as np
import pytest

import search
from search.testing import reference_model_module

from .helpers import GOLDEN, TINY_MODEL, LabelledCollection, make_labelled_collection


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
def reference() -> ModuleType:
    module = reference_model_module()
    if module is None:
        pytest.fail("the reference ruclip 0.0.2 is not installed: pip install --no-deps ruclip==0.0.2")
    return module


@pytest.fixture(scope="session")
def labelled_collection(tmp_path_factory) -> LabelledCollection:
    return make_labelled_collection(tmp_path_factory.mktemp("labelled"))
