"""The vector index: exact up to EXACT_SEARCH_LIMIT, IVF-SQ8 above, checked against exact search."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

import search
import search.store.layout as layout_module
from indexer.scan import FoundFile
from search.clip.folder import file_fingerprint, find_weights
from search.images import PhotoFacts
from search.store import IndexedImage, IndexStore
from search.store.layout import IndexKind
from search.store.vectors import (
    build_from_sqlite,
    catch_up,
    load_vectors,
    reshape_if_needed,
    save_vectors,
)
from search.store.verify import verify_index
from search.testing import clustered_unit_vectors, write_synthetic_index

from .helpers import TINY_MODEL

DIM = 32  # the tiny golden model's embed_dim, so that open_index can use it


def recall_at_10(approximate: faiss.Index, vectors: np.ndarray, queries: np.ndarray) -> float:
    exact = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
    exact.add_with_ids(vectors, np.arange(1, len(vectors) + 1))  # row ids, as the index holds them
    _, truth = exact.search(queries, 10)
    _, found = approximate.search(queries, 10)
    return float(np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)]))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    vectors = clustered_unit_vectors(40_000, DIM, clusters=400, seed=1)
    folder = tmp_path_factory.mktemp("synthetic")
    fingerprint = file_fingerprint(find_weights(TINY_MODEL))
    original = layout_module.EXACT_SEARCH_LIMIT
    layout_module.EXACT_SEARCH_LIMIT = 10_000  # so that 40 k images take the approximate path
    try:
        write_synthetic_index(folder, vectors, model_name=str(TINY_MODEL), fingerprint=fingerprint)
    finally:
        layout_module.EXACT_SEARCH_LIMIT = original
    return folder, vectors


def test_index_kind_follows_collection_size():
    assert IndexKind.for_count(10).name == "flat-ip"
    assert IndexKind.for_count(layout_module.EXACT_SEARCH_LIMIT).name == "flat-ip"
    assert IndexKind.for_count(1_000_000).name == "ivf2048-sq8"


def test_index_kind_names_are_parsed_and_a_typo_is_an_error():
    assert IndexKind.parse("ivf2048-sq8") == IndexKind(2048)
    assert IndexKind.parse("flat-ip").exact
    with pytest.raises(ValueError):
        IndexKind.parse("ivf-2048")


def test_approximate_index_recall_against_exact(synthetic):
    folder, vectors = synthetic
    built = build_from_sqlite(IndexStore(folder), DIM, IndexKind(256))
    assert not built.kind.exact and built.kind.name == "ivf256-sq8"
    queries = clustered_unit_vectors(200, DIM, clusters=400, seed=1)  # same centres, fresh points
    assert recall_at_10(built.index, vectors, queries) >= 0.95


def test_an_approximate_index_is_verified_searched_and_filtered(synthetic):
    folder, vectors = synthetic
    report = verify_index(folder)
    assert report.ok, report.problems[:5]
    index = search.open_index(folder, device="cpu")
    assert not index._ranking.kind.exact
    assert index.search(image=1, k=1)[0].id == 1  # self-retrieval by stored vector
    # A folder filter whose matches are spread over many lists still fills k.
    hits = index.search(image=1, k=50, folder="/photos/album_3")
    assert len(hits) == 50 and all(h.path.startswith("/photos/album_3/") for h in hits)


def test_a_reader_takes_the_new_file_when_the_index_type_changes(tmp_path, monkeypatch):
    vectors = clustered_unit_vectors(12_000, DIM, clusters=100, seed=2)
    fingerprint = file_fingerprint(find_weights(TINY_MODEL))
    write_synthetic_index(tmp_path, vectors, model_name=str(TINY_MODEL), fingerprint=fingerprint)
    reader = search.open_index(tmp_path, device="cpu")
    assert reader._ranking.kind.exact

    # The collection "grows past" the exact limit: a build's checkpoint after a change reshapes it.
    monkeypatch.setattr(layout_module, "EXACT_SEARCH_LIMIT", 10_000)
    store = IndexStore(tmp_path)
    row_5 = IndexedImage(
        FoundFile("/photos/album_0/IMG_0000004.jpg", 1, 1), vectors[4], PhotoFacts(4000, 3000, None, None, f"{4:032x}")
    )
    store.write_batch(store.add_root(Path("/photos")), [row_5])  # row 5 written again: the counter moves
    current = catch_up(store, load_vectors(tmp_path, store, DIM), DIM)
    reshaped = reshape_if_needed(store, current, DIM)
    save_vectors(tmp_path, store, reshaped)
    assert not reshaped.kind.exact
    assert reader.search(image=5, k=1)[0].id == 5
    assert reader._ranking.kind == reshaped.kind
