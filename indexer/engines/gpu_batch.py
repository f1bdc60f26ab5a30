"""How many images a GPU engine's batch holds: the free device memory over what one image needs at its peak."""

from __future__ import annotations

import torch

from search.clip.config import ModelConfig

_BYTES = {torch.float32: 4, torch.float16: 2, torch.bfloat16: 2}
MAX_BATCH = 512  # beyond this the encoder is no faster per image and the pipeline's latency grows
MEMORY_SHARE = 0.5  # of the free GPU memory: the allocator's fragmentation and cuDNN/cuBLAS workspaces need room


def bytes_per_image(config: ModelConfig, precision: torch.dtype, megapixels: float) -> int:
    """A conservative estimate of the device memory one image of a batch holds at its peak.

    Decoding: the decoded picture (3 bytes a pixel), its upright copy (a rotation copies), and the
    float32 square the resize reads (the crop of a 4:3 picture is 3/4 of it, 4 bytes a sample).
    Encoding, in `precision` (autocast): the vision transformer's widest moment, the residual stream
    plus the MLP's 4x hidden layer plus attention's q, k, v, output and scores (heads x T x T),
    twice for the allocator's overlap between layers, plus the float32 input.
    """
    element = _BYTES.get(precision, 4)
    pixels = megapixels * 1e6
    decode = pixels * 3 * 2 + pixels * 0.75 * 3 * 4
    tokens = (config.image_resolution // config.vision_patch_size) ** 2 + 1
    width, heads = config.vision_width, config.vision_heads
    layer = element * tokens * width * (1 + 4 + 4) + element * heads * tokens * tokens
    encode = 2 * layer + 4 * 3 * config.image_resolution**2
    return int(decode + encode)


def batch_size_for(
    free_bytes: int, config: ModelConfig, precision: torch.dtype, megapixels: float = 12.0, most: int = MAX_BATCH
) -> int:
    """The batch size for `free_bytes` of free device memory: MEMORY_SHARE of it over
    bytes_per_image, rounded down to a multiple of 8 (tensor-core tiles) when at least 8, within 1..most."""
    fits = int(free_bytes * MEMORY_SHARE // bytes_per_image(config, precision, megapixels))
    if fits >= 8:
        fits -= fits % 8
    return max(1, min(most, fits))
