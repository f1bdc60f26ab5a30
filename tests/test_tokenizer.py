"""Reference tokenisation rules beyond the golden texts."""

from __future__ import annotations

import torch

from search.constants import BOS_ID, EOS_ID


def test_empty_text_is_bos_eos_then_padding(tiny_model):
    ids = tiny_model.tokenize([""])
    assert ids[0, :2].tolist() == [BOS_ID, EOS_ID]
    assert ids[0, 2:].eq(0).all()


def test_long_text_is_truncated_with_eos_last(tiny_model):
    context = tiny_model.config.context_length
    ids = tiny_model.tokenize(["слово " * 200])[0]
    assert ids.shape == (context,)
    assert ids[0] == BOS_ID and ids[-1] == EOS_ID and ids.ne(0).all()


def test_text_is_lower_cased(tiny_model):
    assert torch.equal(tiny_model.tokenize(["Рыжий КОТ"]), tiny_model.tokenize(["рыжий кот"]))


def test_single_string_is_one_row(tiny_model):
    assert torch.equal(tiny_model.tokenize("кот"), tiny_model.tokenize(["кот"]))
    assert tiny_model.encode_texts("кот").shape == (1, tiny_model.config.embed_dim)
