"""Exact CPU speed-up for the text tower: Linear weights prepacked once for oneDNN.

A search query is a few to a dozen tokens, so each Linear of the text tower multiplies that many
rows by a large weight matrix: the weights' bytes, not the arithmetic, should set the time. torch's
default CPU path for that shape (MKL sgemm) streams them at ~5 GB/s on the 2-core AMD dev machine,
where a plain read runs at ~19 GB/s: one short query through the ViT-B/32-384 text tower took
41 ms. oneDNN's `_linear_pointwise` with weights reordered once at load streams ~8-11 GB/s: 25-27
ms for the same result (max |difference| 3e-7 on unit vectors: float summation order). Large
batches (image encoding) gain nothing (MKL is at ~140 GFLOP/s there), so only the text tower is
packed.

The packed copy costs the text tower's fp32 size again in RAM (150 MB for ViT-B/32-384). The
original parameters stay, so `state_dict()` and everything reading weights are unchanged.
Set RUPHOTO_NO_PREPACK=1 to keep torch's default path (to compare, or on a CPU where it is slower).
"""

from __future__ import annotations

import logging
import platform

import torch
import torch.nn.functional as F
from torch import nn

from ..settings import settings

log = logging.getLogger(__name__)

# Measured on x86-64 only (AVX2, AMD); other CPUs keep torch's default path.
_MEASURED_MACHINES = ("x86_64", "amd64")
_PACKED_FOR_ROWS = 16  # oneDNN picks its weight layout for this batch size; queries are ~5-20 tokens


def pack_weight(weight: torch.Tensor) -> torch.Tensor:
    """A Linear weight (out, in) reordered once into oneDNN's blocked layout, for packed_linear."""
    return torch.ops.mkldnn._reorder_linear_weight(weight.detach().float().contiguous(), _PACKED_FOR_ROWS)


def packed_linear(x: torch.Tensor, packed_weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """F.linear(x, weight, bias) with the weight from pack_weight (fp32 x of any leading shape)."""
    return torch.ops.mkldnn._linear_pointwise(x, packed_weight, bias, "none", [], "")


class PackedLinear(nn.Linear):
    """An nn.Linear computed from prepacked weights (fp32 CPU inference only).

    It holds the very Parameters of the layer it replaces, so `state_dict()` keeps the published
    names and values; the packed copy is a buffer left out of it.
    """

    def __init__(self, linear: nn.Linear):
        super().__init__(linear.in_features, linear.out_features, bias=linear.bias is not None, device="meta")
        self.weight, self.bias = linear.weight, linear.bias
        self.register_buffer("packed_weight", pack_weight(linear.weight), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return packed_linear(x, self.packed_weight, self.bias)


def prepacking_available() -> bool:
    """Whether this torch build and machine can use (and were measured with) packed Linears."""
    if not settings().prepack:  # RUPHOTO_NO_PREPACK
        return False
    if platform.machine().lower() not in _MEASURED_MACHINES or not torch.backends.mkldnn.is_available():
        return False
    ops = torch.ops.mkldnn
    return hasattr(ops, "_reorder_linear_weight") and hasattr(ops, "_linear_pointwise")


def _packs_exactly(weight: torch.Tensor, bias: torch.Tensor) -> bool:
    """One packed layer checked against F.linear, so a torch build with a broken op keeps the default."""
    try:
        probe = torch.randn(3, 5, weight.shape[1], generator=torch.Generator().manual_seed(0))
        packed = packed_linear(probe, pack_weight(weight), bias.detach().float())
    except (RuntimeError, NotImplementedError) as exc:  # op missing or unsupported on this CPU
        log.info("oneDNN packed Linear unavailable here (%s); text encoding keeps torch's default path", exc)
        return False
    expected = F.linear(probe, weight.float(), bias.float())
    scale = float(expected.abs().max()) or 1.0
    return bool((packed - expected).abs().max() <= 1e-4 * scale)


@torch.no_grad()
def pack_text_tower(network: nn.Module) -> int:
    """Prepack the text transformer's fp32 Linear layers in place; returns how many were packed.

    `network` is a model.CLIP (typed as a Module: model.py imports packed_linear from here, and an
    import back, even for type checking only, would close a circle; tests/test_layers.py).

    Call on a CPU fp32 network only (autocast would feed these ops bf16). The fused q/k/v
    projection of each block gets a packed copy beside it; plain `nn.Linear` layers (attention
    output, MLP) become PackedLinear holding the same parameters. Layers already quantized to int8
    are left as they are. Returns 0, changing nothing, where packing is unavailable or fails its
    check.
    """
    blocks = network.transformer.resblocks
    if not blocks or not prepacking_available():
        return 0
    first = blocks[0].attn
    if not _packs_exactly(first.in_proj_weight, first.in_proj_bias):
        return 0
    count = 0
    for block in blocks:
        attention = block.attn  # a model.SelfAttention
        attention.packed_in_proj_weight = pack_weight(attention.in_proj_weight)
        count += 1
        for parent, name in ((attention, "out_proj"), (block.mlp, "c_fc"), (block.mlp, "c_proj")):
            layer = getattr(parent, name)
            if type(layer) is nn.Linear:  # exactly Linear: a quantized replacement stays
                setattr(parent, name, PackedLinear(layer))
                count += 1
    log.debug("text tower: %d Linear layers prepacked for oneDNN", count)
    return count
