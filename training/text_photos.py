"""Photos of Russian (and some English) text, deterministic: the OCR benchmark's and tests' collection.

    make_text_photos(folder, 120)   screenshots, receipts, signs on photo backgrounds, rotated and
                                    low-contrast ones, each with one word to search it by (TextPhoto)
    make_receipt(path, items)       one receipt with the given item lines

Every photo is a pure function of (seed, index, kind); fonts come from Debian's fonts-dejavu and
fonts-liberation, the backgrounds of the signs from the demo's photos (data/demo/backgrounds) when
they are there, else from generated gradients and noise. The words are training/text_lexicon.py's.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from .text_lexicon import FILLER_PRODUCTS, FILLER_SCREEN, PRODUCTS, SCREEN, SHOPS, SIGNS, Entry

KINDS = ("screenshot", "receipt", "sign", "rotated", "low_contrast")
BACKGROUNDS = Path(__file__).resolve().parent.parent / "data" / "demo" / "backgrounds"
FONT_FOLDERS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"))
SANS = ("DejaVuSans.ttf", "DejaVuSansCondensed.ttf", "DejaVuSerif.ttf", "LiberationSans-Regular.ttf",
        "LiberationSerif-Regular.ttf", "LiberationSansNarrow-Regular.ttf")  # fmt: skip
BOLD = ("DejaVuSans-Bold.ttf", "DejaVuSansCondensed-Bold.ttf", "LiberationSans-Bold.ttf", "DejaVuSerif-Bold.ttf")
MONO = ("DejaVuSansMono.ttf", "LiberationMono-Regular.ttf")
PHONE, DESKTOP = (1080, 2340), (1920, 1080)
TITLES = ("Мама", "Соседи", "Работа", "Заметки", "Уведомления", "Избранное", "Семья", "Сообщения")
SIGN_NOTES = ("ЕЖЕДНЕВНО 9:00–21:00", "КРУГЛОСУТОЧНО", "ВХОД СО ДВОРА", "ОТКРЫТО", "")


@dataclass(frozen=True)
class TextPhoto:
    path: Path
    kind: str  # one of KINDS
    text: str  # every line drawn on it, "\n"-joined
    query: str  # the searched word in another form than written: what a person would type
    query_word: str  # the searched word as the photo writes it


class FontsMissing(RuntimeError):
    """Neither fonts-dejavu nor fonts-liberation is installed."""


@functools.lru_cache(maxsize=256)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    for folder in FONT_FOLDERS:
        if (folder / name).is_file():
            return ImageFont.truetype(str(folder / name), size)
    raise FontsMissing(f"font {name} not found in {', '.join(map(str, FONT_FOLDERS))}: apt install fonts-dejavu")


def _font_of(rng: random.Random, names: Sequence[str], size: int) -> ImageFont.FreeTypeFont:
    """One of `names` that is installed (the Liberation fonts may be missing where DejaVu is not)."""
    for name in rng.sample(list(names), len(names)):
        try:
            return _font(name, size)
        except (FontsMissing, OSError):
            continue
    return _font(names[0], size)  # raises FontsMissing with its message


@functools.lru_cache(maxsize=1)
def _backgrounds() -> tuple[Image.Image, ...]:
    if not BACKGROUNDS.is_dir():
        return ()
    pictures = []
    for path in sorted(BACKGROUNDS.iterdir()):
        if path.suffix.lower() in {".jpg", ".jpeg", ".png"}:
            with Image.open(path) as image:
                pictures.append(image.convert("RGB"))
    return tuple(pictures)


def _noise(image: Image.Image, rng: random.Random, sigma: float) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float32)
    noise = np.random.default_rng(rng.getrandbits(32)).standard_normal(pixels.shape, dtype=np.float32)
    return Image.fromarray(np.clip(pixels + sigma * noise, 0, 255).astype(np.uint8), image.mode)


def _jitter(rgb: tuple[int, int, int], rng: random.Random, spread: int = 10) -> tuple[int, int, int]:
    r, g, b = (min(255, max(0, c + rng.randint(-spread, spread))) for c in rgb)
    return r, g, b


def _with_entry(lines: list[str], entry_line: str, rng: random.Random) -> list[str]:
    at = rng.randint(0, len(lines))
    return [*lines[:at], entry_line, *lines[at:]]


# --- screenshots ------------------------------------------------------------------------------------


def _screenshot(entry: Entry, rng: random.Random, size: tuple[int, int] | None = None) -> tuple[Image.Image, str]:
    size = size or rng.choice((PHONE, DESKTOP))
    dark = rng.random() < 0.4
    background = _jitter((18, 18, 20) if dark else (248, 248, 250), rng, 6)
    ink = _jitter((232, 232, 236) if dark else (22, 22, 26), rng, 8)
    bubble = _jitter((44, 46, 52) if dark else (226, 232, 240), rng, 8)
    phone = size == PHONE
    body = rng.randint(42, 52) if phone else rng.randint(26, 34)
    font = _font_of(rng, SANS, body)
    title_font = _font_of(rng, BOLD, int(body * 1.3))
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    clock = f"{rng.randint(7, 23)}:{rng.randint(0, 59):02d}"
    battery = f"{rng.randint(12, 99)}%"
    title = rng.choice(TITLES)
    lines = _with_entry(rng.sample(FILLER_SCREEN, rng.randint(3, 6)), entry.line, rng)
    margin = int(size[0] * 0.06)
    draw.text((margin, int(body * 0.6)), clock, font=_font_of(rng, SANS, int(body * 0.8)), fill=ink)
    draw.text((size[0] - margin, int(body * 0.6)), battery, font=_font_of(rng, SANS, int(body * 0.8)), fill=ink,
              anchor="ra")  # fmt: skip
    y = int(body * 2.6)
    draw.text((margin, y), title, font=title_font, fill=ink)
    y += int(body * 2.6)
    for line in lines:
        left, top, right, bottom = draw.textbbox((0, 0), line, font=font)
        x = margin if rng.random() < 0.6 else size[0] - margin - (right - left) - body
        pad = body // 2
        draw.rounded_rectangle((x - pad, y - pad, x + right + pad, y + bottom + pad), radius=body // 2, fill=bubble)
        draw.text((x, y), line, font=font, fill=ink)
        y += bottom + int(body * 1.6)
    return image, "\n".join([f"{clock} {battery}", title, *lines])


# --- receipts ---------------------------------------------------------------------------------------


def _receipt(items: Sequence[str], rng: random.Random) -> tuple[Image.Image, str]:
    size = rng.randint(22, 26)
    font = _font_of(rng, MONO, size)
    width_chars = 36
    shop = rng.choice(SHOPS)
    prices = [f"{rng.randint(29, 899)}.{rng.choice((0, 90, 99, 49)):02d}" for _ in items]
    total = sum(float(price) for price in prices)
    lines = [
        f"ООО «{shop}»",
        "КАССОВЫЙ ЧЕК",
        "ПРИХОД",
        f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.2026 {rng.randint(8, 22):02d}:{rng.randint(0, 59):02d}",
    ]
    for item, price in zip(items, prices, strict=True):
        name = item.upper()[: width_chars - len(price) - 2]
        lines.append(name + " " * (width_chars - len(name) - len(price)) + price)
    lines += [f"ИТОГО{' ' * (width_chars - 5 - len(f'{total:.2f}'))}{total:.2f}", "СПАСИБО ЗА ПОКУПКУ!"]
    char_width = font.getlength("0")
    paper = _jitter((242, 240, 234), rng, 6)
    image = Image.new("RGB", (int(char_width * (width_chars + 4)), int(size * 1.6 * (len(lines) + 4))), paper)
    draw = ImageDraw.Draw(image)
    ink = _jitter((40, 40, 44), rng, 12)
    for row, line in enumerate(lines):
        x = char_width * 2 if row > 3 else (image.width - font.getlength(line)) / 2
        draw.text((x, size * 1.6 * (row + 2)), line, font=font, fill=ink)
    image = _noise(image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.7))), rng, rng.uniform(3, 7))
    return image, "\n".join(lines)


def make_receipt(path: Path, items: Sequence[str], seed: int = 0) -> TextPhoto:
    """One receipt (JPEG) listing `items` (one line each, written in capitals) under a shop's name and
    «КАССОВЫЙ ЧЕК»; its query word is the first item's first word, as written."""
    rng = random.Random(f"receipt:{seed}")
    image, text = _receipt(items, rng)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=88)
    first = items[0].upper().split()[0]
    return TextPhoto(path, "receipt", text, first.lower(), first)


# --- signs ------------------------------------------------------------------------------------------


def _photo_background(size: tuple[int, int], rng: random.Random) -> Image.Image:
    photos = _backgrounds()
    if photos and rng.random() < 0.7:
        photo = rng.choice(photos)
        scale = max(size[0] / photo.width, size[1] / photo.height) * rng.uniform(1.0, 1.5)
        big = photo.resize((math.ceil(photo.width * scale), math.ceil(photo.height * scale)), Image.BILINEAR)
        left, top = rng.randint(0, big.width - size[0]), rng.randint(0, big.height - size[1])
        return big.crop((left, top, left + size[0], top + size[1]))
    top, bottom = _jitter((rng.randint(60, 200),) * 3, rng, 40), _jitter((rng.randint(40, 160),) * 3, rng, 40)
    ramp = np.linspace(0.0, 1.0, size[1], dtype=np.float32)[:, None, None]
    pixels = np.asarray(top, np.float32) * (1 - ramp) + np.asarray(bottom, np.float32) * ramp
    gradient = Image.fromarray(np.repeat(pixels, size[0], axis=1).astype(np.uint8))
    return _noise(gradient, rng, 14).filter(ImageFilter.GaussianBlur(2))


def _plate(entry: Entry, rng: random.Random) -> tuple[Image.Image, list[str]]:
    street = " " in entry.line and not entry.line.startswith(("ПОЧТА", "РЕМОНТ", "ТЕАТР"))
    if street:
        colour, ink = _jitter((20, 70, 150), rng, 12), (245, 245, 245)
        lines = [*entry.line.split(" ", 1), str(rng.randint(1, 120))]
    else:
        colour = rng.choice(((150, 20, 30), (20, 110, 60), (30, 30, 34), (240, 236, 225), (250, 200, 40)))
        ink = (25, 25, 28) if sum(colour) > 500 else (248, 248, 245)
        lines = [entry.line, rng.choice(SIGN_NOTES)]
        lines = [line for line in lines if line]
    big = _font_of(rng, BOLD, rng.randint(96, 140))
    small = _font_of(rng, BOLD, int(big.size * 0.45))
    fonts = ([small, big, small] if street else [big, small])[: len(lines)]
    boxes = [
        ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), line, font=f)
        for line, f in zip(lines, fonts, strict=True)
    ]
    width = max(box[2] for box in boxes) + big.size
    height = sum(box[3] for box in boxes) + big.size // 2 * (len(lines) + 1)
    plate = Image.new("RGB", (width, height), colour)
    draw = ImageDraw.Draw(plate)
    draw.rectangle((6, 6, width - 7, height - 7), outline=ink, width=5)
    y = big.size // 2
    for line, font, box in zip(lines, fonts, boxes, strict=True):
        draw.text(((width - box[2]) / 2, y), line, font=font, fill=ink)
        y += box[3] + big.size // 2
    return plate, lines


def _sign(entry: Entry, rng: random.Random) -> tuple[Image.Image, str]:
    size = rng.choice(((1600, 1200), (1200, 1600), (1920, 1080)))
    image = _photo_background(size, rng)
    plate, lines = _plate(entry, rng)
    if plate.width > size[0] * 0.9:
        scale = size[0] * 0.9 / plate.width
        plate = plate.resize((int(plate.width * scale), int(plate.height * scale)), Image.LANCZOS)
    x = rng.randint(0, size[0] - plate.width)
    y = rng.randint(0, max(0, size[1] - plate.height))
    shadow = Image.new("L", plate.size, 90)
    image.paste((0, 0, 0), (x + 8, y + 8), shadow)
    image.paste(plate, (x, y))
    image = _noise(image.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.0))), rng, rng.uniform(4, 9))
    return image, "\n".join(lines)


# --- rotated, low contrast --------------------------------------------------------------------------


def _rotated(entry: Entry, rng: random.Random, from_screen: bool) -> tuple[Image.Image, str]:
    if from_screen:
        image, text = _screenshot(entry, rng, DESKTOP)
    else:
        image, text = _sign(entry, rng)
    angle = rng.uniform(5.0, 25.0) * rng.choice((-1, 1))
    fill = _jitter((rng.randint(40, 200),) * 3, rng, 20)
    return image.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=fill), text


def _low_contrast(items: Sequence[str], rng: random.Random) -> tuple[Image.Image, str]:
    grey = rng.randint(120, 200)
    ink = grey + rng.choice((-1, 1)) * rng.randint(35, 55)
    ink = ink if 0 <= ink <= 255 else grey - 45
    font = _font_of(rng, SANS, rng.randint(15, 19))
    lines = ["Список покупок", *items, f"до {rng.randint(1, 28)}.{rng.randint(1, 12):02d}"]
    image = Image.new("L", (rng.randint(700, 1000), rng.randint(500, 700)), grey)
    draw = ImageDraw.Draw(image)
    y = rng.randint(20, 60)
    x = rng.randint(20, 120)
    for line in lines:
        draw.text((x, y), line, font=font, fill=ink)
        y += int(font.size * 1.7)
    return _noise(image, rng, 3).convert("RGB"), "\n".join(lines)


# --- the collection ---------------------------------------------------------------------------------


def _groups(kind: str, index: int) -> str:
    if kind == "rotated":
        return "screen" if index % 2 == 0 else "signs"
    return {"screenshot": "screen", "receipt": "products", "low_contrast": "products", "sign": "signs"}[kind]


def make_text_photos(folder: Path, count: int, seed: int = 0, kinds: Sequence[str] = KINDS) -> list[TextPhoto]:
    """`count` photos of text into `folder` (made if needed), the kinds in turn; the same arguments
    give the same files. Each photo's query word comes from its kind's group of the lexicon, the
    group's entries taken in a seeded order: distinct while a group lasts (SCREEN 42, PRODUCTS 52,
    SIGNS 40 entries), then reused."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kinds {sorted(unknown)}: choose from {', '.join(KINDS)}")
    folder.mkdir(parents=True, exist_ok=True)
    lexicon = {"screen": SCREEN, "products": PRODUCTS, "signs": SIGNS}
    orders = {
        name: random.Random(f"{seed}:order:{name}").sample(list(group), len(group)) for name, group in lexicon.items()
    }
    taken = dict.fromkeys(lexicon, 0)
    photos = []
    for index in range(count):
        kind = kinds[index % len(kinds)]
        group = _groups(kind, index // len(kinds))
        entry = orders[group][taken[group] % len(orders[group])]
        taken[group] += 1
        rng = random.Random(f"{seed}:{index}:{kind}")
        written = entry.written
        if kind == "screenshot":
            image, text = _screenshot(entry, rng)
        elif kind == "receipt":
            fillers = rng.sample(FILLER_PRODUCTS, rng.randint(2, 4))
            image, text = _receipt(_with_entry(fillers, entry.line, rng), rng)
            written = written.upper()
        elif kind == "sign":
            image, text = _sign(entry, rng)
        elif kind == "rotated":
            image, text = _rotated(entry, rng, from_screen=group == "screen")
        else:
            image, text = _low_contrast(
                _with_entry(rng.sample(FILLER_PRODUCTS, rng.randint(3, 5)), entry.line, rng), rng
            )
        png = kind in ("screenshot", "low_contrast")
        path = folder / f"{index:03d}-{kind}.{'png' if png else 'jpg'}"
        image.save(path, **({"compress_level": 1} if png else {"quality": rng.randint(80, 92)}))
        photos.append(TextPhoto(path, kind, text, rng.choice(entry.queries), written))
    return photos
