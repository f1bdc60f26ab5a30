"""CLIP's contrastive training of both towers, for any source of (pixels, token ids, positives) batches.

The demo model is trained with it on generated shapes; the same loop fine-tunes a published
checkpoint on a user's captioned photos (a batch source that reads them). Positives generalise
CLIP's diagonal: a caption that fits several images of the batch («красный» and three red
pictures) is a correct answer for each of them, instead of a wrong answer for all but one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm import tqdm

from search.clip.model import CLIP
from search.i18n import _

log = logging.getLogger(__name__)

MAX_LOGIT_SCALE = math.log(100.0)  # CLIP clamps the temperature at 1/100


@dataclass
class Batch:
    pixels: torch.Tensor  # (B, 3, R, R), normalised as the model's preprocess does
    token_ids: torch.Tensor  # (B, context_length), as the model's tokenizer writes them
    positives: torch.Tensor  # (B, B) bool: [i, j] is true when caption j describes image i


@dataclass(frozen=True)
class TrainingSchedule:
    steps: int
    learning_rate: float = 1e-3
    warmup_steps: int = 50
    weight_decay: float = 0.1
    log_every: int = 25


def init_for_training(network: CLIP, seed: int) -> CLIP:
    """CLIP's initialisation (Radford et al. 2021): small embeddings, attention and MLP scaled by depth."""
    generator = torch.Generator().manual_seed(seed)

    def normal_(tensor: torch.Tensor, std: float) -> None:
        tensor.copy_(torch.randn(tensor.shape, generator=generator) * std)

    with torch.no_grad():
        for tower, width, layers in (
            (network.visual.transformer, network.config.vision_width, network.config.vision_layers),
            (network.transformer, network.config.transformer_width, network.config.transformer_layers),
        ):
            proj_std = width**-0.5 * (2 * layers) ** -0.5
            for block in tower.resblocks:
                normal_(block.attn.in_proj_weight, width**-0.5)
                normal_(block.attn.out_proj.weight, proj_std)
                normal_(block.mlp.c_fc.weight, (2 * width) ** -0.5)
                normal_(block.mlp.c_proj.weight, proj_std)
                for bias in (
                    block.attn.in_proj_bias,
                    block.attn.out_proj.bias,
                    block.mlp.c_fc.bias,
                    block.mlp.c_proj.bias,
                ):
                    bias.zero_()
        vision_width = network.config.vision_width
        normal_(network.visual.conv1.weight, vision_width**-0.5)
        normal_(network.visual.class_embedding, vision_width**-0.5)
        normal_(network.visual.positional_embedding, vision_width**-0.5)
        normal_(network.visual.proj, vision_width**-0.5)
        normal_(network.token_embedding.weight, 0.02)
        normal_(network.positional_embedding, 0.01)
        normal_(network.text_projection, network.config.transformer_width**-0.5)
        network.logit_scale.fill_(math.log(1 / 0.07))
    return network


def contrastive_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor, positives: torch.Tensor
) -> torch.Tensor:
    """Symmetric cross-entropy between cosine logits and the positives spread evenly (soft targets)."""
    image_features = F.normalize(image_features, dim=-1)  # (B, E)
    text_features = F.normalize(text_features, dim=-1)  # (B, E)
    logits = logit_scale.exp() * image_features @ text_features.T  # (B images, B captions)
    positives = positives.float()
    image_to_text = F.cross_entropy(logits, positives / positives.sum(dim=1, keepdim=True))
    text_to_image = F.cross_entropy(logits.T, positives.T / positives.T.sum(dim=1, keepdim=True))
    return (image_to_text + text_to_image) / 2


def _param_groups(network: CLIP, weight_decay: float) -> list[dict]:
    # Decay matrices only: gains, biases, embeddings and the temperature are left alone, as in CLIP.
    decayed, plain = [], []
    for name, parameter in network.named_parameters():
        is_matrix = parameter.ndim >= 2 and "embedding" not in name
        (decayed if is_matrix else plain).append(parameter)
    return [{"params": decayed, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


def _learning_rate(step: int, schedule: TrainingSchedule) -> float:
    """Linear warm-up, then cosine decay to zero."""
    if step < schedule.warmup_steps:
        return schedule.learning_rate * (step + 1) / schedule.warmup_steps
    progress = (step - schedule.warmup_steps) / max(1, schedule.steps - schedule.warmup_steps)
    return schedule.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))


def train(network: CLIP, batches: Iterator[Batch], schedule: TrainingSchedule, *, progress: bool = True) -> list[float]:
    """Run `schedule.steps` AdamW steps on batches from `batches`; returns the loss of every step."""
    network.train()
    optimizer = torch.optim.AdamW(_param_groups(network, schedule.weight_decay), betas=(0.9, 0.98), eps=1e-6)
    losses: list[float] = []
    bar = tqdm(range(schedule.steps), desc=_("training"), unit="step", disable=not progress)
    for step in bar:
        batch = next(batches)
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step, schedule)
        loss = contrastive_loss(
            network.encode_image(batch.pixels),
            network.encode_text(batch.token_ids),
            network.logit_scale,
            batch.positives,
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            network.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
        losses.append(loss.item())
        if step % schedule.log_every == 0 or step == schedule.steps - 1:
            recent = losses[-schedule.log_every :]
            bar.set_postfix(loss=f"{sum(recent) / len(recent):.3f}")
            log.info("step %d/%d loss %.4f", step + 1, schedule.steps, losses[-1])
    network.eval()
    return losses
