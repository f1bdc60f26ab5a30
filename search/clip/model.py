"""The ruCLIP network: OpenAI-CLIP ViT image tower and causal text tower.

Parameter names match the published `pytorch_model.bin` key for key (see DESIGN.md), so a checkpoint
loads with `strict=True`. Differences from the reference (ruclip 0.0.2), all exact up to float
rounding: batch-first tensors instead of (L, N, D) permutes, `scaled_dot_product_attention` instead
of `nn.MultiheadAttention`, and the text context cut to the longest sequence of the batch. On a CPU,
`search.clip.prepack` may give the text tower's projections prepacked weights (same result, faster).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from ..constants import EOS_ID
from .config import ModelConfig
from .prepack import packed_linear


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in fp32 whatever the input dtype, as the reference does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x.float(), self.normalized_shape, self.weight.float(), self.bias.float(), self.eps).to(
            x.dtype
        )


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            return x * torch.sigmoid(1.702 * x)
        # Inference: reuse x's buffer. The MLP activations are the largest tensors of the model and a
        # fresh allocation of each costs more than the arithmetic (page faults on first touch).
        return x.mul_(torch.sigmoid(x * 1.702))


class SelfAttention(nn.Module):
    """Multi-head self-attention with `nn.MultiheadAttention`'s parameter names (fused in_proj)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        # in_proj_weight prepacked for oneDNN, set by search.clip.prepack (CPU text tower); not saved.
        self.register_buffer("packed_in_proj_weight", None, persistent=False)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def project_qkv(self, x: torch.Tensor) -> torch.Tensor:
        """(..., W) -> (..., 3W): queries, keys and values side by side."""
        if self.packed_in_proj_weight is not None:
            return packed_linear(x, self.packed_in_proj_weight, self.in_proj_bias)
        return F.linear(x, self.in_proj_weight, self.in_proj_bias)

    def forward(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        batch, length, width = x.shape
        qkv = self.project_qkv(x)  # (B, T, 3W)
        qkv = qkv.view(batch, length, 3, self.heads, width // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 × (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(batch, length, width)  # (B, T, W)
        return self.out_proj(y)

    def forward_one_query(self, x: torch.Tensor, position: torch.Tensor, causal: bool) -> torch.Tensor:
        """Attention output at one position per row only: x (B, T, W), position (B,) -> (B, 1, W).

        Keys and values still come from every token; only the query side is cut. The output equals
        forward(x)[arange(B), position] and costs a third of the projections.
        """
        batch, length, width = x.shape
        head_width = width // self.heads
        rows = torch.arange(batch, device=x.device)
        if self.packed_in_proj_weight is None:
            q = F.linear(x[rows, position], self.in_proj_weight[:width], self.in_proj_bias[:width])  # (B, W)
            kv = F.linear(x, self.in_proj_weight[width:], self.in_proj_bias[width:])  # (B, T, 2W)
        else:  # a few query tokens: reading the packed weights once costs more than the extra rows
            qkv = self.project_qkv(x)  # (B, T, 3W)
            q, kv = qkv[rows, position, :width], qkv[:, :, width:]
        q = q.view(batch, 1, self.heads, head_width).transpose(1, 2)  # (B, nh, 1, hs)
        k, v = kv.view(batch, length, 2, self.heads, head_width).permute(2, 0, 3, 1, 4).unbind(0)
        mask = None
        if causal:  # the query at position p sees keys 0..p
            mask = torch.arange(length, device=x.device) <= position[:, None]  # (B, T)
            mask = mask[:, None, None, :]  # (B, 1, 1, T)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, nh, 1, hs)
        return self.out_proj(y.transpose(1, 2).reshape(batch, 1, width))


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = SelfAttention(width, heads)
        self.ln_1 = LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ("c_fc", nn.Linear(width, width * 4)),
                    ("gelu", QuickGELU()),
                    ("c_proj", nn.Linear(width * 4, width)),
                ]
            )
        )
        self.ln_2 = LayerNorm(width)

    def forward(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), causal)
        return x + self.mlp(self.ln_2(x))

    def forward_one_position(self, x: torch.Tensor, position: torch.Tensor, causal: bool) -> torch.Tensor:
        """forward(x)[arange(B), position] without computing the other outputs: (B, T, W) -> (B, W)."""
        rows = torch.arange(x.shape[0], device=x.device)
        y = x[rows, position][:, None, :] + self.attn.forward_one_query(self.ln_1(x), position, causal)
        return (y + self.mlp(self.ln_2(y)))[:, 0, :]


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, causal: bool):
        super().__init__()
        self.causal = causal
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(width, heads) for _ in range(layers))

    def forward_at(self, x: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """Only the output at `position` (B,) of each row: (B, T, W) -> (B, W). Both towers read one
        token (class / eos) from the last layer, so its other outputs are skipped: exact, and ~7%
        less work for the ViT."""
        *head, last = self.resblocks
        for block in head:
            x = block(x, self.causal)
        return last.forward_one_position(x, position, self.causal)


class VisionTransformer(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        width = config.vision_width
        scale = width**-0.5
        self.conv1 = nn.Conv2d(3, width, config.vision_patch_size, config.vision_patch_size, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(config.grid_size**2 + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, config.vision_layers, config.vision_heads, causal=False)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, config.embed_dim))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:  # (B, 3, R, R) -> (B, E)
        x = self.conv1(pixels)  # (B, W, g, g)
        x = x.flatten(2).transpose(1, 2)  # (B, g*g, W)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)  # (B, 1, W)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)  # (B, g*g+1, W)
        class_position = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        x = self.transformer.forward_at(self.ln_pre(x), class_position)  # (B, W)
        return self.ln_post(x) @ self.proj


class CLIP(nn.Module):
    """Both towers, with the reference's top-level text parameter names."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        width = config.transformer_width
        self.visual = VisionTransformer(config)
        self.transformer = Transformer(width, config.transformer_layers, config.transformer_heads, causal=True)
        self.token_embedding = nn.Embedding(config.vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.empty(config.context_length, width))
        self.ln_final = LayerNorm(width)
        self.text_projection = nn.Parameter(torch.empty(width, config.embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(2.659260036932778))  # log(1 / 0.07), CLIP's init
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.text_projection, std=width**-0.5)

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, R, R) normalised pixels -> (B, E) unnormalised image features."""
        return self.visual(pixels.to(self.visual.conv1.weight.dtype))

    def encode_text(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, context_length) token ids with one eos per row -> (B, E) unnormalised text features."""
        eos_positions = (input_ids == EOS_ID).int().argmax(dim=1)  # (B,)
        # Causal attention: nothing after a row's eos can reach it, so positions past the last eos
        # of the batch are dead weight. Cutting them is exact and turns 77 tokens into ~10 for a query.
        length = int(eos_positions.max()) + 1
        ids = input_ids[:, :length]  # (B, T)
        x = self.token_embedding(ids) + self.positional_embedding[:length]  # (B, T, W)
        x = self.ln_final(self.transformer.forward_at(x, eos_positions))  # (B, W)
        return x @ self.text_projection
