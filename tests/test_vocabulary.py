"""An honest "I don't know": a model folder that lists the words it was trained on (the demo's does)
answers a text query with none of them by saying what it knows, not by ranking shapes; and the
scores of a query over the collection, for the page's histogram."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import search
from search.constants import KNOWN_WORDS_FILE
from search.paths import PACKAGED_DEMO_MODEL_DIR
from search.vocabulary import Vocabulary, words_of
from training.captions import known_words

from .helpers import TINY_MODEL


@pytest.fixture(scope="module")
def demo_index(three_photo_collection) -> search.PhotoIndex:
    """A red star, a blue circle and a yellow square (conftest.py), indexed with the demo model."""
    return search.open_index(three_photo_collection.index, device="cpu")


def test_the_shipped_word_list_is_what_the_demo_was_trained_on():
    summary, words = known_words()
    shipped = (PACKAGED_DEMO_MODEL_DIR / KNOWN_WORDS_FILE).read_text(encoding="utf-8").splitlines()
    assert shipped[0] == f"# {summary}" and shipped[1:] == words
    assert {"красная", "звездой", "желтый", "кружок", "синие", "круги"} <= set(words)
    assert "фото" not in words and "на" not in words  # framing words ask nothing


@pytest.mark.parametrize("query", ["кот", "собака на пляже", "фото с котом", "закат над морем", "2:кот + снег"])
def test_a_query_with_no_word_the_demo_knows_gets_no_results_and_a_reason(demo_index, query):
    assert demo_index.search(query, k=5) == []
    reason = demo_index.unknown_query(query)
    assert reason is not None and "знает только цвета и фигуры" in reason and "звезда" in reason
    assert f"«{words_of(query)[0]}»" in reason


@pytest.mark.parametrize("query", ["красная звезда", "желтый", "ЖЁЛТЫЙ КВАДРАТ", "синие круги", "кот + красный"])
def test_a_query_with_a_word_the_demo_knows_is_ranked(demo_index, query):
    assert demo_index.unknown_query(query) is None
    assert len(demo_index.search(query, k=5)) == 3


def test_the_best_hit_of_a_known_query_is_the_right_picture(demo_index):
    assert Path(demo_index.search("красная звезда", k=1)[0].path).name == "красный-звезда.jpg"


def test_an_example_picture_is_searched_whatever_the_words(demo_index):
    star = demo_index.search("красная звезда", k=1)[0]
    assert demo_index.search("кот", image=star.id, k=2, exclude=[star.id])  # the picture carries the query


def test_a_model_folder_without_a_word_list_may_know_anything():
    assert not (TINY_MODEL / KNOWN_WORDS_FILE).exists()
    assert Vocabulary.of_model_folder(TINY_MODEL) is None


def test_scores_are_every_photos_score_best_first(demo_index):
    scores = demo_index.scores("синий круг")
    hits = demo_index.search("синий круг", k=10)
    assert len(scores) == 3 and np.all(np.diff(scores) <= 0)
    assert np.allclose(scores, [hit.score for hit in hits], atol=1e-6)
    assert len(demo_index.scores("синий круг", limit=2)) == 2
