"""A query stays fast beside a build: a build lowers its own priority (its decoding processes inherit
it), and a query can be encoded on fewer torch threads (the caller's setting put back)."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

import search
from search.query.vectors import QUERY_THREADS

from .helpers import REPO_ROOT, indexer


@pytest.fixture(scope="module")
def index_folder(three_photo_collection):
    return three_photo_collection.index


def test_a_query_is_encoded_on_the_threads_asked_for_and_the_callers_setting_is_put_back(index_folder, monkeypatch):
    assert QUERY_THREADS is None  # torch's own setting, unless asked (see BENCHMARKS.md)
    index = search.open_index(index_folder, device="cpu", query_threads=1)
    seen = []
    encode = index.model.encode_texts

    def watched(texts, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return encode(texts, *args, **kwargs)

    monkeypatch.setattr(index.model, "encode_texts", watched)
    before = torch.get_num_threads()
    index.search("синий квадрат", k=1)
    assert seen == [1] and torch.get_num_threads() == before

    unbounded = search.open_index(index_folder, device="cpu")
    assert np.allclose(unbounded.query_vector("синий квадрат"), index.query_vector("синий квадрат"), atol=1e-5)


def test_another_threads_setting_is_left_alone(index_folder):
    index = search.open_index(index_folder, device="cpu", query_threads=1)
    ready, done, seen = threading.Event(), threading.Event(), []

    def other() -> None:
        torch.set_num_threads(2)
        ready.set()
        done.wait(30)
        seen.append(torch.get_num_threads())

    thread = threading.Thread(target=other)
    thread.start()
    ready.wait(30)
    index.search("жёлтый круг", k=1)
    done.set()
    thread.join(30)
    assert seen == [2]


@pytest.mark.slow
def test_a_build_runs_at_the_niceness_it_is_given(tmp_path):
    probe = (
        "import os, sys; from search.cli import lower_priority; "
        "start = os.nice(0); lower_priority(int(sys.argv[1])); lower_priority(1); print(start, os.nice(0))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, "7"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    start, after = map(int, result.stdout.split())
    assert after == max(start, 7)  # raised to 7, never lowered again (by the second call, to 1)
    help_text = indexer("build", "--help").stdout
    assert "--nice" in help_text and "default 10" in help_text
