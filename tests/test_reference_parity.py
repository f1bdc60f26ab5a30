"""The project against the reference code itself (ruclip 0.0.2 model.py) on random full-size weights
of the published configs, written in the published format: nothing is downloaded."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

import search
from search.clip.prepack import PackedLinear, prepacking_available
from search.testing import make_random_checkpoint

from .helpers import TINY_BPE, TINY_MODEL

# Loads the reference and full-size random checkpoints.
pytestmark = pytest.mark.slow

TOLERANCE = 1e-5
FULL_CONFIGS = ["ruclip-vit-base-patch32-384", "ruclip-vit-large-patch14-336"]
# ViT-L/14-336 at its full widths, heads, patch, 24×24 grid, context, vocabulary and text tower, with
# 4 of its 24 vision blocks: each block runs the same code at the same shapes, and the other 20 were
# most of this module's time. Depth is still compared at full size: B/32's 12 vision blocks.
SHALLOW_VISION_LAYERS = {"ruclip-vit-large-patch14-336": 4}
TEXTS = [
    "рыжий кот спит на подоконнике",
    "дети на пляже",
    "Закат над морем, 2023",
    "",
    "очень длинный запрос " * 12,
]


def reference_embeddings(reference, folder, input_ids, pixels):
    network = reference.CLIP.from_pretrained(str(folder)).eval()  # strict load_state_dict
    with torch.no_grad():
        text = network.encode_text(input_ids)
        image = network.encode_image(pixels)
    del network
    unit = lambda x: (x / x.norm(dim=-1, keepdim=True)).numpy()  # noqa: E731
    return unit(text), unit(image)


@pytest.mark.parametrize("name", FULL_CONFIGS)
def test_full_size_random_weights_match_reference(name, reference, golden, tmp_path):
    config = search.PUBLISHED_CONFIGS[name]
    if name in SHALLOW_VISION_LAYERS:
        config = dataclasses.replace(config, vision_layers=SHALLOW_VISION_LAYERS[name])
    folder = make_random_checkpoint(tmp_path / name, config, TINY_BPE, seed=7)
    ours = search.load_model(folder, device="cpu")
    images = [Image.open(path) for path in golden["images"][:3]]
    pixels = torch.stack([ours.preprocess(image) for image in images])
    input_ids = ours.tokenize(TEXTS)

    ref_text, ref_image = reference_embeddings(reference, folder, input_ids, pixels)
    our_text = ours.encode_texts(TEXTS)
    our_image = ours.encode_images(images)

    assert our_text.shape == (len(TEXTS), config.embed_dim)
    text_diff = np.abs(our_text - ref_text).max()
    image_diff = np.abs(our_image - ref_image).max()
    assert text_diff <= TOLERANCE, f"text max |Δ| = {text_diff}"
    assert image_diff <= TOLERANCE, f"image max |Δ| = {image_diff}"
    # The random weights must make distinct inputs distinct, or the comparison above proves little.
    assert np.abs(our_image[0] - our_image[1]).max() > 1e-3
    if prepacking_available():  # the text parity above ran through the prepacked (oneDNN) text tower
        assert any(isinstance(m, PackedLinear) for m in ours.network.transformer.modules())

    if name == FULL_CONFIGS[0]:  # the opt-in int8 CPU mode: images close to the reference, texts exact
        int8 = search.load_model(folder, device="cpu", precision="int8")
        int8_images = int8.encode_images(images)
        assert (int8_images * ref_image).sum(axis=1).min() >= 0.999
        assert np.abs(int8_images - ref_image).max() > TOLERANCE  # really quantized
        assert np.abs(int8.encode_texts(TEXTS) - ref_text).max() <= TOLERANCE
        # The opt-in int8 query encoder: texts close, really quantized; images untouched.
        fast_text = search.load_model(folder, device="cpu", text_precision="int8")
        int8_texts = fast_text.encode_texts(TEXTS)
        assert (int8_texts * ref_text).sum(axis=1).min() >= 0.998
        assert np.abs(int8_texts - ref_text).max() > TOLERANCE
        assert np.abs(fast_text.encode_images(images) - ref_image).max() <= TOLERANCE


@pytest.mark.parametrize("seed", [1, 2])
def test_tiny_random_weights_match_reference(seed, reference, golden, tmp_path):
    config = search.ModelConfig.from_file(TINY_MODEL / "config.json")
    folder = make_random_checkpoint(tmp_path / "m", config, TINY_BPE, seed)
    ours = search.load_model(folder, device="cpu")
    ids = ours.tokenize(golden["texts"])
    pixels = torch.from_numpy(golden["pixel_values"])
    ref_text, ref_image = reference_embeddings(reference, folder, ids, pixels)
    assert np.abs(ours.encode_texts(golden["texts"]) - ref_text).max() <= TOLERANCE
    assert np.abs(ours.encode_pixels(pixels) - ref_image).max() <= TOLERANCE


@pytest.mark.parametrize(
    "shape",
    [
        # one 96-wide head; 70 px is not a multiple of the 16 px patch (the conv drops the rest)
        dict(vision_width=96, image_resolution=70, vision_patch_size=16, transformer_width=48, transformer_heads=3),
        # two 80-wide heads, a short text context, embed_dim wider than both towers
        dict(vision_width=160, image_resolution=32, vision_patch_size=8, context_length=12, embed_dim=200),
    ],
    ids=["odd-width", "short-context"],
)
def test_other_configurations_match_reference(shape, reference, golden, tmp_path):
    base = search.ModelConfig.from_file(TINY_MODEL / "config.json").to_dict()
    config = search.ModelConfig.from_dict({**base, **shape})
    folder = make_random_checkpoint(tmp_path / "m", config, TINY_BPE, seed=3)
    ours = search.load_model(folder, device="cpu")
    images = [Image.open(path) for path in golden["images"]]
    pixels = torch.stack([ours.preprocess(image) for image in images])
    ref_text, ref_image = reference_embeddings(reference, folder, ours.tokenize(golden["texts"]), pixels)
    assert np.abs(ours.encode_texts(golden["texts"]) - ref_text).max() <= TOLERANCE
    assert np.abs(ours.encode_images(images) - ref_image).max() <= TOLERANCE
