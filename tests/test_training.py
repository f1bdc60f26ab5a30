"""The training module: Russian captions that say what the picture shows, a loss that learns,
and a seeded command that reproduces its model."""

from __future__ import annotations

import math
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import search
import search.paths
from search.clip.folder import file_fingerprint
from search.clip.model import CLIP
from search.clip.tokenizer import Tokenizer
from training.bpe import train_bpe
from training.captions import COLOURS, SHAPES, random_caption, tokenizer_corpus
from training.contrastive import TrainingSchedule, contrastive_loss, init_for_training, train
from training.demo import DemoRecipe
from training.world import batches, generate_pool

from .helpers import REPO_ROOT, in_this_process

# Trains small models for real.
pytestmark = pytest.mark.slow


def _words(text: str) -> set[str]:
    return set(re.findall(r"[а-яё]+", text.replace("ё", "е")))


def _colour_forms(colour) -> set[str]:
    forms = (colour.name, colour.feminine, colour.neuter, colour.genitive, colour.instrumental_m, colour.instrumental_f)
    return {form.replace("ё", "е") for form in forms}


def test_captions_name_exactly_the_colour_and_shape_they_claim():
    rng = random.Random(7)
    for colour in COLOURS:
        for shape in SHAPES:
            for _ in range(100):
                caption = random_caption(rng, colour, shape)
                words = _words(caption.text)
                for other in COLOURS:
                    mentioned = bool(words & _colour_forms(other))
                    assert mentioned == (caption.colour == other.name), caption
                stems = {s.name: s.name[:3] for s in SHAPES}  # кру(г|жок), ква, тре, зве(зда|здочка)
                for other in SHAPES:
                    mentioned = any(word.startswith(stems[other.name]) for word in words)
                    assert mentioned == (caption.shape == other.name), caption
                assert caption.colour or caption.shape


def test_adjectives_agree_with_the_noun():
    star = next(s for s in SHAPES if s.name == "звезда")
    circle = next(s for s in SHAPES if s.name == "круг")
    blue = next(c for c in COLOURS if c.name == "синий")
    rng = random.Random(3)
    texts = {random_caption(rng, blue, star, p_colour_only=0, p_shape_only=0).text for _ in range(300)}
    assert "синяя звезда" in texts and "фото с синей звездой" in texts
    assert not any("синий звезд" in t or "синим звезд" in t for t in texts)
    texts = {random_caption(rng, blue, circle, p_colour_only=0, p_shape_only=0).text for _ in range(300)}
    assert "синий круг" in texts and "круг синего цвета" in texts


def test_contrastive_loss_rewards_matching_pairs():
    features = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    positives = torch.eye(6, dtype=torch.bool)
    scale = torch.tensor(2.0)
    matched = contrastive_loss(features, features, scale, positives)
    shuffled = contrastive_loss(features, features.roll(1, dims=0), scale, positives)
    assert matched < shuffled
    # A caption that fits two images («красный» for two red pictures) is right for both: the loss
    # must not push the second picture away from it, as CLIP's one-positive targets would.
    positives[0, 1] = positives[1, 0] = True
    images = features.clone().requires_grad_(True)
    contrastive_loss(images, features, scale, positives).backward()
    toward_shared_caption = -(images.grad[1] @ features[0])  # descent direction · caption 0
    images.grad = None
    contrastive_loss(images, features, scale, torch.eye(6, dtype=torch.bool)).backward()
    assert toward_shared_caption > -(images.grad[1] @ features[0])


def test_training_lowers_the_loss_below_chance(tmp_path):
    recipe = DemoRecipe(vision_width=64, vision_layers=1, transformer_width=64, transformer_layers=1, embed_dim=32)
    vocab = train_bpe(tokenizer_corpus(random.Random(0), lines=2000), tmp_path / "bpe.model", 256)
    config = recipe.model_config(vocab)
    tokenizer = Tokenizer(tmp_path / "bpe.model", config.context_length, vocab)
    pool = generate_pool(256, seed=0, resolution=config.image_resolution, workers=1)
    network = init_for_training(CLIP(config), seed=0)
    schedule = TrainingSchedule(steps=120, warmup_steps=5, learning_rate=2e-3)
    losses = train(network, batches(pool, tokenizer, config, 64, seed=0), schedule, progress=False)
    # A model that matches nothing scores ln(64) = 4.16 on a batch of 64 (uniform logits).
    assert sum(losses[-10:]) / 10 < math.log(64) - 0.2
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10 - 0.4


def _train_command(out: Path, own_process: bool = True) -> subprocess.CompletedProcess:
    args = [
        "demo-model",
        "--out",
        str(out),
        "--steps",
        "8",
        "--batch-size",
        "32",
        "--pool-size",
        "128",
        "--workers",
        "1",
        "--quiet",
    ]
    if not own_process:
        from training.__main__ import main

        return in_this_process(main, args)
    return subprocess.run(
        [sys.executable, "-m", "training", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )


def test_training_command_writes_a_loadable_model_and_reproduces_it(tmp_path):
    # The first run in this process (its main()), the second in a process of its own: the same command
    # gives the same files, whatever ran in the process before it.
    first, second = _train_command(tmp_path / "a", own_process=False), _train_command(tmp_path / "b")
    assert first.returncode == 0, first.stderr
    assert "precision@5" in first.stdout
    model = search.load_model(tmp_path / "a", device="cpu")
    vectors = model.encode_texts(["красная звезда", "синий круг"])
    assert vectors.shape == (2, DemoRecipe().embed_dim)
    assert second.returncode == 0, second.stderr
    for name in ("pytorch_model.bin", "bpe.model", "config.json"):
        assert file_fingerprint(tmp_path / "a" / name) == file_fingerprint(tmp_path / "b" / name), name
    assert not list(tmp_path.glob(".a-*")), "the staging folder is cleaned up"
    # A retrained demo keeps the shipped one's tag vocabulary (its colours and shapes).
    shipped = (Path(search.paths.PACKAGED_DEMO_MODEL_DIR) / "tags.txt").read_text(encoding="utf-8")
    assert (tmp_path / "a" / "tags.txt").read_text(encoding="utf-8") == shipped


def test_training_command_refuses_nonsense_arguments():
    from training.__main__ import main

    result = in_this_process(main, ["demo-model", "--steps", "0"])
    assert result.returncode == 2
    assert "--steps" in result.stderr and "positive" in result.stderr


@pytest.mark.parametrize("name", ["demo"])
def test_unknown_model_message_mentions_the_demo(name):
    with pytest.raises(search.ModelNotFoundError, match=name):
        search.resolve_model("no-such-model")
