"""The demo world as data: labelled pictures of coloured shapes and contrastive batches of them.

Every picture is a pure function of (purpose, seed, index), so a pool is generated in parallel
and still reproduces bit for bit, and the evaluation's pictures can never be training pictures.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from search.clip.config import ModelConfig
from search.clip.tokenizer import Tokenizer
from search.images.square import center_square

from .captions import COLOURS, SHAPES, Colour, Shape, random_caption
from .contrastive import Batch
from .shapes import BUSY_BACKGROUNDS, EASY_BACKGROUNDS, EXTENT_RANGE, draw_picture, load_backgrounds

DEFAULT_BACKGROUNDS = Path(__file__).resolve().parent.parent / "data" / "demo" / "backgrounds"


@dataclass(frozen=True)
class LabelledPicture:
    image: Image.Image
    colour: Colour
    shape: Shape


def picture_rng(purpose: str, seed: int, index: int) -> random.Random:
    """The random stream of one picture; `purpose` ("train", "eval", "demo") keeps the sets apart."""
    return random.Random(f"{purpose}:{seed}:{index}")


def labelled_picture(
    purpose: str,
    seed: int,
    index: int,
    size: tuple[int, int],
    photos: Sequence[Image.Image] = (),
    backgrounds: Sequence[str] = EASY_BACKGROUNDS + BUSY_BACKGROUNDS,
) -> LabelledPicture:
    """Picture number `index`: colours and shapes cycle so that every pair is equally common."""
    rng = picture_rng(purpose, seed, index)
    colour = COLOURS[index % len(COLOURS)]
    shape = SHAPES[(index // len(COLOURS)) % len(SHAPES)]
    return LabelledPicture(draw_picture(rng, colour, shape, size, photos, backgrounds), colour, shape)


def drawn_extent(purpose: str, seed: int, index: int) -> float:
    """How large labelled_picture(purpose, seed, index, ...) draws its shape: the bounding box over
    the side of the square the model sees (the first draw of the picture's stream, shapes.py)."""
    return picture_rng(purpose, seed, index).uniform(*EXTENT_RANGE)


def labelled_pictures(
    purpose: str, seed: int, count: int, size: tuple[int, int], backgrounds: Path | None = DEFAULT_BACKGROUNDS
) -> list[LabelledPicture]:
    photos = load_backgrounds(backgrounds)
    return [labelled_picture(purpose, seed, i, size, photos) for i in range(count)]


# ---- training pool ------------------------------------------------------------------------------

_worker_photos: list[Image.Image] = []


def _load_worker_photos(backgrounds: Path | None) -> None:
    global _worker_photos
    _worker_photos = load_backgrounds(backgrounds)


def _pool_item(index: int, seed: int, resolution: int) -> tuple[np.ndarray, int, int, bool]:
    """One training picture at a random size and aspect, centre-cropped and resized as the model's
    preprocess does, kept as uint8 (R, R, 3) to hold a large pool in little memory. Odd indices
    get busy backgrounds (noise, photos), even ones easy backgrounds (plain, gradients)."""
    rng = picture_rng("train-size", seed, index)
    side = rng.randint(resolution, 3 * resolution)
    aspect = rng.uniform(1.0, 1.5)
    size = (round(side * aspect), side) if rng.random() < 0.5 else (side, round(side * aspect))
    busy = index % 2 == 1
    kinds = BUSY_BACKGROUNDS if busy else EASY_BACKGROUNDS
    picture = labelled_picture("train", seed, index // 2, size, _worker_photos, kinds)
    square = center_square(picture.image).resize((resolution, resolution), Image.Resampling.BILINEAR)
    return np.asarray(square, dtype=np.uint8), COLOURS.index(picture.colour), SHAPES.index(picture.shape), busy


@dataclass
class PicturePool:
    pixels: np.ndarray  # (N, R, R, 3) uint8
    colours: np.ndarray  # (N,) index into COLOURS
    shapes: np.ndarray  # (N,) index into SHAPES
    busy: np.ndarray  # (N,) bool: noise or photo background


def generate_pool(
    count: int, seed: int, resolution: int, *, workers: int = 2, backgrounds: Path | None = DEFAULT_BACKGROUNDS
) -> PicturePool:
    """`count` training pictures, drawn in `workers` processes (the same pool for any worker count)."""
    make = partial(_pool_item, seed=seed, resolution=resolution)
    if workers <= 1:
        _load_worker_photos(backgrounds)
        items = [make(i) for i in range(count)]
    else:
        with ProcessPoolExecutor(workers, initializer=_load_worker_photos, initargs=(backgrounds,)) as pool:
            items = list(pool.map(make, range(count), chunksize=256))
    return PicturePool(
        pixels=np.stack([item[0] for item in items]),
        colours=np.array([item[1] for item in items]),
        shapes=np.array([item[2] for item in items]),
        busy=np.array([item[3] for item in items]),
    )


def batches(
    pool: PicturePool,
    tokenizer: Tokenizer,
    config: ModelConfig,
    batch_size: int,
    seed: int,
    easy_steps: int = 0,
    ramp_steps: int = 0,
) -> Iterator[Batch]:
    """Endless random batches from the pool, each picture with a fresh caption and a random mirror.

    A ViT trained from scratch sits at chance on shapes for hundreds of steps when most
    backgrounds are busy (measured: 0.28 shape accuracy after 200 steps, against 0.67 after 120 on
    plain backgrounds). So the first `easy_steps` batches have easy backgrounds only, and busy ones
    are phased in over the next `ramp_steps` up to half of each batch.
    """
    rng = random.Random(f"batches:{seed}")
    mean = torch.tensor(config.mean).view(1, 3, 1, 1)
    std = torch.tensor(config.std).view(1, 3, 1, 1)
    easy, busy = np.flatnonzero(~pool.busy), np.flatnonzero(pool.busy)
    step = 0
    while True:
        busy_share = 0.5 * min(1.0, max(0, step - easy_steps) / max(1, ramp_steps))
        picks = [
            int(busy[rng.randrange(len(busy))])
            if len(busy) and rng.random() < busy_share
            else int(easy[rng.randrange(len(easy))])
            for _ in range(batch_size)
        ]
        step += 1
        pixels = torch.from_numpy(pool.pixels[picks]).permute(0, 3, 1, 2).float() / 255.0  # (B, 3, R, R)
        mirror = torch.tensor([rng.random() < 0.5 for _ in picks])
        pixels[mirror] = pixels[mirror].flip(-1)
        colours = [COLOURS[pool.colours[i]] for i in picks]
        shapes = [SHAPES[pool.shapes[i]] for i in picks]
        captions = [random_caption(rng, c, s) for c, s in zip(colours, shapes, strict=True)]
        positives = torch.tensor(
            [[caption.fits(c.name, s.name) for caption in captions] for c, s in zip(colours, shapes, strict=True)]
        )
        yield Batch((pixels - mean) / std, tokenizer.encode([c.text for c in captions]), positives)
