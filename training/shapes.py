"""Pictures for the demo world: one coloured shape on a varied background.

The shape covers a third of the picture's short side or more, sits anywhere inside the centred
square (the part the model sees after its centre crop), leans a little and may be slightly
blurred. Backgrounds are plain, gradients, smooth noise, or crops of real photos, and always
differ from the shape's colour enough for a person to see the shape.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .captions import Colour, Shape

SUPERSAMPLING = 2  # draw at 2× and downscale: anti-aliased edges like a real picture
MIN_CONTRAST = 90.0  # Euclidean RGB distance between the shape and the background under it
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
# The shape's bounding box over the side of the centred square, drawn uniformly in this range: the
# first draw of a picture's random stream (world.drawn_extent replays it).
EXTENT_RANGE = (0.35, 0.85)


def load_backgrounds(folder: Path | None) -> list[Image.Image]:
    """RGB photos to crop backgrounds from (none when the folder is None or empty)."""
    if folder is None or not Path(folder).is_dir():
        return []
    photos = []
    for path in sorted(Path(folder).iterdir()):
        if path.suffix.lower() in PHOTO_SUFFIXES:
            with Image.open(path) as image:
                photos.append(image.convert("RGB"))
    return photos


def jittered(rgb: tuple[int, int, int], rng: random.Random, spread: int = 22) -> tuple[int, int, int]:
    """A nearby shade: photos never show a colour's exact anchor."""
    r, g, b = (min(255, max(0, c + rng.randint(-spread, spread))) for c in rgb)
    return r, g, b


def _random_rgb(rng: random.Random) -> tuple[int, int, int]:
    return rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255)


EASY_BACKGROUNDS = ("plain", "gradient")
BUSY_BACKGROUNDS = ("noise", "photo")


def _background(
    rng: random.Random, size: tuple[int, int], photos: Sequence[Image.Image], kinds: Sequence[str]
) -> Image.Image:
    width, height = size
    kind = rng.choice([k for k in kinds if k != "photo" or photos])
    if kind == "plain":
        # Half the plain backgrounds are pale or grey, as most real backgrounds are.
        if rng.random() < 0.5:
            level = rng.randint(120, 250)
            return Image.new("RGB", size, jittered((level, level, level), rng, 12))
        return Image.new("RGB", size, _random_rgb(rng))
    if kind == "gradient":
        start, end = np.array(_random_rgb(rng), np.float32), np.array(_random_rgb(rng), np.float32)
        angle = rng.uniform(0, 2 * math.pi)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        t = xs / max(width - 1, 1) * math.cos(angle) + ys / max(height - 1, 1) * math.sin(angle)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        pixels = start + t[..., None] * (end - start)
        return Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    if kind == "noise":
        # Smooth colour noise around a base colour (like foliage, sand, a blurred crowd): a coarse
        # random grid upscaled bicubically, at 15-45% of full contrast, plus fine grain.
        cells = rng.randint(2, 8)
        seed = rng.getrandbits(32)
        noise_rng = np.random.default_rng(seed)
        coarse = noise_rng.uniform(-1, 1, (cells, cells, 3)).astype(np.float32)
        smooth = np.stack(
            [np.asarray(Image.fromarray(coarse[..., c], "F").resize(size, Image.Resampling.BICUBIC)) for c in range(3)],
            axis=-1,
        )
        base = np.array(_random_rgb(rng), np.float32)
        pixels = base + smooth * 255 * rng.uniform(0.15, 0.45) + noise_rng.normal(0, rng.uniform(0, 10), smooth.shape)
        return Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    photo = rng.choice(photos)
    side = rng.uniform(0.25, 1.0) * min(photo.size)
    crop_w, crop_h = side, side * height / width
    if crop_h > photo.height:
        crop_w, crop_h = crop_w * photo.height / crop_h, photo.height
    left = rng.uniform(0, photo.width - crop_w)
    top = rng.uniform(0, photo.height - crop_h)
    return photo.resize(size, Image.Resampling.BILINEAR, box=(left, top, left + crop_w, top + crop_h))


def _outline(shape: Shape, cx: float, cy: float, radius: float, angle: float, rng: random.Random) -> list[tuple]:
    """Polygon vertices of the shape around (cx, cy); `radius` is the circumscribed circle's."""
    if shape.name == "квадрат":
        corners = [angle + math.pi / 4 + k * math.pi / 2 for k in range(4)]
        points = [(radius, a) for a in corners]
    elif shape.name == "треугольник":
        points = [(radius, angle - math.pi / 2 + k * 2 * math.pi / 3) for k in range(3)]
    elif shape.name == "звезда":
        inner = radius * rng.uniform(0.38, 0.5)
        points = [(radius if k % 2 == 0 else inner, angle - math.pi / 2 + k * math.pi / 5) for k in range(10)]
    else:
        raise ValueError(f"no outline for {shape.name!r}")
    return [(cx + r * math.cos(a), cy + r * math.sin(a)) for r, a in points]


def _shape_mask(shape: Shape, size: tuple[int, int], rng: random.Random) -> Image.Image:
    """An 'L' mask of one shape inside the centred square of `size`, drawn at SUPERSAMPLING×."""
    width, height = size
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    # The bounding box spans EXTENT_RANGE of the square's side; the centre keeps it (nearly) inside.
    extent = rng.uniform(*EXTENT_RANGE) * side
    radius = extent / 2 if shape.name == "круг" else extent / (2 * 0.95)
    margin = extent / 2
    cx = left + rng.uniform(margin, side - margin)
    cy = top + rng.uniform(margin, side - margin)
    angle = math.radians(rng.uniform(-15, 15))
    s = SUPERSAMPLING
    mask = Image.new("L", (width * s, height * s), 0)
    draw = ImageDraw.Draw(mask)
    if shape.name == "круг":
        draw.ellipse([(cx - radius) * s, (cy - radius) * s, (cx + radius) * s, (cy + radius) * s], fill=255)
    else:
        draw.polygon([(x * s, y * s) for x, y in _outline(shape, cx, cy, radius, angle, rng)], fill=255)
    return mask.resize(size, Image.Resampling.LANCZOS)


def draw_picture(
    rng: random.Random,
    colour: Colour,
    shape: Shape,
    size: tuple[int, int] = (64, 64),
    photos: Sequence[Image.Image] = (),
    backgrounds: Sequence[str] = EASY_BACKGROUNDS + BUSY_BACKGROUNDS,
) -> Image.Image:
    """One RGB picture of a `colour` `shape` on a random background (one of the `backgrounds`
    kinds) whose colour differs from it."""
    mask = _shape_mask(shape, size, rng)
    alpha = np.asarray(mask, np.float32)[..., None] / 255.0  # (H, W, 1)
    fill = np.array(jittered(colour.rgb, rng), np.float32)
    for _ in range(20):
        background = np.asarray(_background(rng, size, photos, backgrounds), np.float32)  # (H, W, 3)
        under = (background * alpha).sum(axis=(0, 1)) / max(float(alpha.sum()), 1.0)
        if np.linalg.norm(under - fill) >= MIN_CONTRAST:
            break
    else:  # no random background contrasted: a plain one far from the shape's colour
        far = tuple(int(c) for c in np.where(fill > 127, 40.0, 215.0))
        background = np.asarray(Image.new("RGB", size, far), np.float32)
    pixels = background * (1 - alpha) + fill * alpha
    picture = Image.fromarray(pixels.round().astype(np.uint8), "RGB")
    if rng.random() < 0.5:
        picture = picture.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 1.0) * min(size) / 64))
    return picture
