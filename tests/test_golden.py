"""The project against the reference's recorded outputs on a random-weight checkpoint (shared/golden)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

TOLERANCE = 1e-5


def test_token_ids_identical_for_every_text(tiny_model, golden):
    ids = tiny_model.tokenize(golden["texts"])
    assert ids.dtype == torch.long
    assert ids.shape == golden["input_ids"].shape
    for row, text in enumerate(golden["texts"]):
        assert ids[row].tolist() == golden["input_ids"][row].tolist(), text


def test_pixels_match_for_every_image(tiny_model, golden):
    for row, path in enumerate(golden["images"]):
        with Image.open(path) as image:
            pixels = tiny_model.preprocess(image)
        assert pixels.dtype == torch.float32
        assert pixels.shape == golden["pixel_values"][row].shape
        diff = np.abs(pixels.numpy() - golden["pixel_values"][row]).max()
        assert diff <= TOLERANCE, f"{path.name}: max |Δ| = {diff}"


ENCODERS = ["tiny_model", "tiny_onnx_model"]  # torch, and its export run by ONNX Runtime (search/clip/onnx_model.py)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_text_embeddings_match_for_every_text(encoder, golden, request):
    vectors = request.getfixturevalue(encoder).encode_texts(golden["texts"])
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    for row, text in enumerate(golden["texts"]):
        diff = np.abs(vectors[row] - golden["text_embeddings"][row]).max()
        assert diff <= TOLERANCE, f"{text!r}: max |Δ| = {diff}"


@pytest.mark.parametrize("encoder", ENCODERS)
@pytest.mark.parametrize("as_paths", [True, False], ids=["paths", "pil"])
def test_image_embeddings_match_for_every_image(encoder, golden, as_paths, request):
    images = golden["images"] if as_paths else [Image.open(p) for p in golden["images"]]
    vectors = request.getfixturevalue(encoder).encode_images(images, batch_size=4)  # 4 + 2: a partial last batch
    assert vectors.dtype == np.float32 and vectors.shape == golden["image_embeddings"].shape
    for row, path in enumerate(golden["images"]):
        diff = np.abs(vectors[row] - golden["image_embeddings"][row]).max()
        assert diff <= TOLERANCE, f"{path.name}: max |Δ| = {diff}"


@pytest.mark.parametrize("encoder", ENCODERS)
def test_text_embedding_does_not_depend_on_its_batch(encoder, golden, request):
    # The context is cut to the longest text of a batch: a short text alone, or beside the longest
    # one, or in batches of one, must give the same vector (the ONNX graph's axes are dynamic).
    model = request.getfixturevalue(encoder)
    together = model.encode_texts(golden["texts"])
    one_by_one = model.encode_texts(golden["texts"], batch_size=1)
    reversed_order = model.encode_texts(golden["texts"][::-1], batch_size=3)[::-1]
    np.testing.assert_allclose(one_by_one, together, atol=1e-6)
    np.testing.assert_allclose(reversed_order, together, atol=1e-6)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_empty_inputs_give_empty_arrays(encoder, request):
    model = request.getfixturevalue(encoder)
    assert model.encode_texts([]).shape == (0, model.config.embed_dim)
    assert model.encode_images([]).shape == (0, model.config.embed_dim)


def test_config_is_the_config_json(tiny_model, golden):
    config = tiny_model.config
    assert (config.embed_dim, config.image_resolution, config.vision_width) == (32, 224, 64)
    assert config.vision_heads == 1 and config.transformer_heads == 2
    assert config.mean == pytest.approx((0.48145466, 0.4578275, 0.40821073))
