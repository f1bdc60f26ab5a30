"""The prepacked text tower (search/clip/prepack.py): same vectors as torch's default path, same checkpoint
format, and only where it applies. Parity with the reference itself runs through it as well
(test_reference_parity loads CPU fp32 models, which are packed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import search
from search.clip.model import SelfAttention
from search.clip.prepack import PackedLinear, pack_text_tower, prepacking_available
from search.settings import NO_PREPACK_VAR
from search.testing import random_network

from .helpers import TINY_MODEL

needs_prepacking = pytest.mark.skipif(not prepacking_available(), reason="oneDNN prepacking unavailable here")

# Short queries (a few tokens: the case packing is for), a batch of mixed lengths, the empty text.
TEXTS = [
    "кот",
    "рыжий кот спит на подоконнике",
    "",
    "дети на пляже летом, 2023",
    "очень длинный запрос про горы и озёра " * 4,
] + [f"фото номер {i}" for i in range(40)]


def packed_layers(model: search.RuClip) -> list[nn.Module]:
    """The packed Linear layers and fused q/k/v projections of the text tower."""
    modules = list(model.network.transformer.modules())
    packed_qkv = [m for m in modules if isinstance(m, SelfAttention) and m.packed_in_proj_weight is not None]
    return [m for m in modules if isinstance(m, PackedLinear)] + packed_qkv


@pytest.fixture
def unpacked(monkeypatch) -> search.RuClip:
    monkeypatch.setenv(NO_PREPACK_VAR, "1")
    model = search.load_model(TINY_MODEL, device="cpu")
    monkeypatch.delenv(NO_PREPACK_VAR)
    return model


@needs_prepacking
def test_packed_text_tower_gives_the_default_paths_vectors(tiny_model, unpacked):
    layers = tiny_model.config.transformer_layers
    assert len(packed_layers(tiny_model)) == 4 * layers  # q/k/v, attention output, both MLP layers
    assert packed_layers(unpacked) == []
    ours, default = tiny_model.encode_texts(TEXTS), unpacked.encode_texts(TEXTS)
    assert np.abs(ours - default).max() <= 1e-5
    # One text at a time too (the query path: a dozen tokens, last layer at the eos only).
    for text in TEXTS[:4]:
        assert np.abs(tiny_model.encode_texts([text]) - unpacked.encode_texts([text])).max() <= 1e-5
    # The image tower is not packed and gives the same vectors.
    pixels = torch.randn(2, 3, tiny_model.config.image_resolution, tiny_model.config.image_resolution)
    assert np.abs(tiny_model.encode_pixels(pixels) - unpacked.encode_pixels(pixels)).max() <= 1e-6


@needs_prepacking
def test_packing_keeps_the_published_checkpoint_format(tiny_model, unpacked):
    ours, default = tiny_model.network.state_dict(), unpacked.network.state_dict()
    assert list(ours) == list(default)
    assert all(torch.equal(ours[key], default[key]) for key in default)


@needs_prepacking
def test_int8_query_encoder_keeps_its_quantized_layers_and_packs_the_rest(monkeypatch):
    quantized = search.load_model(TINY_MODEL, device="cpu", text_precision="int8")
    monkeypatch.setenv(NO_PREPACK_VAR, "1")
    quantized_unpacked = search.load_model(TINY_MODEL, device="cpu", text_precision="int8")
    layers = quantized.config.transformer_layers
    assert len(packed_layers(quantized)) == layers  # the fused q/k/v projections only
    block = quantized.network.transformer.resblocks[0]
    assert type(block.mlp.c_fc) is not nn.Linear and not isinstance(block.mlp.c_fc, PackedLinear)
    ours, default = quantized.encode_texts(TEXTS), quantized_unpacked.encode_texts(TEXTS)
    assert np.abs(ours - default).max() <= 1e-5


def test_no_packing_where_the_text_tower_is_not_fp32(monkeypatch):
    bf16 = search.load_model(TINY_MODEL, device="cpu", precision="bf16")
    assert packed_layers(bf16) == []
    vectors = bf16.encode_texts(TEXTS[:3])
    assert np.isfinite(vectors).all() and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
    monkeypatch.setenv(NO_PREPACK_VAR, "1")
    network = random_network(search.ModelConfig.from_file(TINY_MODEL / "config.json"))
    assert pack_text_tower(network) == 0  # the opt-out is honoured by the function itself


@needs_prepacking
def test_packed_linear_matches_torch_linear_on_any_leading_shape():
    generator = torch.Generator().manual_seed(3)
    linear = nn.Linear(24, 40)
    packed = PackedLinear(linear)
    assert packed.weight is linear.weight and list(packed.state_dict()) == ["weight", "bias"]
    for shape in [(1, 24), (7, 24), (2, 5, 24), (1, 1, 24)]:
        x = torch.randn(*shape, generator=generator)
        with torch.inference_mode():
            assert torch.allclose(packed(x), linear(x), atol=1e-5)
    no_bias = nn.Linear(24, 8, bias=False)
    x = torch.randn(3, 24, generator=generator)
    with torch.inference_mode():
        assert torch.allclose(PackedLinear(no_bias)(x), no_bias(x), atol=1e-5)
