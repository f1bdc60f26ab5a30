"""Russian captions for the demo world of coloured shapes, with correct agreement.

A caption names the colour, the shape or both, in the forms a person would type
(«красная звезда», «круг красного цвета», «фото с синим квадратом», «жёлтый», «звезда»).
Each caption carries the attributes it states, so the trainer knows which images it fits.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Colour:
    """An adjective of colour in the cases the templates need, and its RGB anchor."""

    name: str  # masculine nominative, the colour's key: "красный"
    feminine: str  # красная
    neuter: str  # красное
    genitive: str  # красного (masculine/neuter; «красного цвета»)
    instrumental_m: str  # красным
    instrumental_f: str  # красной
    rgb: tuple[int, int, int]


def _hard_stem(stem: str, rgb: tuple[int, int, int]) -> Colour:
    return Colour(stem + "ый", stem + "ая", stem + "ое", stem + "ого", stem + "ым", stem + "ой", rgb)


def _soft_stem(stem: str, rgb: tuple[int, int, int]) -> Colour:
    return Colour(stem + "ий", stem + "яя", stem + "ее", stem + "его", stem + "им", stem + "ей", rgb)


COLOURS: tuple[Colour, ...] = (
    _hard_stem("красн", (215, 30, 35)),
    _hard_stem("оранжев", (250, 135, 20)),
    _hard_stem("жёлт", (245, 215, 35)),
    _hard_stem("зелён", (40, 160, 60)),
    _soft_stem("син", (35, 65, 205)),
    _hard_stem("фиолетов", (135, 55, 185)),
    _hard_stem("чёрн", (15, 15, 18)),
    _hard_stem("бел", (245, 245, 242)),
)


@dataclass(frozen=True)
class Shape:
    """A noun of shape in the cases the templates need."""

    name: str  # nominative, the shape's key: "звезда"
    feminine: bool
    genitive: str  # звезды
    instrumental: str  # звездой
    synonyms: tuple[str, ...] = ()  # other nominatives a person uses: «кружок», «звёздочка»


SHAPES: tuple[Shape, ...] = (
    Shape("круг", False, "круга", "кругом", ("кружок",)),
    Shape("квадрат", False, "квадрата", "квадратом"),
    Shape("треугольник", False, "треугольника", "треугольником"),
    Shape("звезда", True, "звезды", "звездой", ("звёздочка",)),
)


@dataclass(frozen=True)
class Caption:
    """A text and what it says: colour and/or shape keys (None where the text is silent)."""

    text: str
    colour: str | None
    shape: str | None

    def fits(self, colour: str, shape: str) -> bool:
        """Does this caption describe an image of `colour` `shape`?"""
        return self.colour in (None, colour) and self.shape in (None, shape)


def adjective(colour: Colour, shape: Shape) -> str:
    """The colour agreeing with the shape's gender: «красный круг», «красная звезда»."""
    return colour.feminine if shape.feminine else colour.name


def adjective_instrumental(colour: Colour, shape: Shape) -> str:
    return colour.instrumental_f if shape.feminine else colour.instrumental_m


def query_text(colour: Colour, shape: Shape) -> str:
    """The plain query a user types for both attributes: «жёлтая звезда»."""
    return f"{adjective(colour, shape)} {shape.name}"


def all_queries() -> list[tuple[str, Colour, Shape]]:
    """The 32 colour+shape queries of the evaluation, in their plainest form."""
    return [(query_text(colour, shape), colour, shape) for colour in COLOURS for shape in SHAPES]


_PLACES = ("на картинке", "на фото", "на изображении", "на рисунке")
_WITH = ("фото с", "картинка с", "изображение с", "рисунок с")


def _both(rng: random.Random, colour: Colour, shape: Shape) -> str:
    noun = rng.choice((shape.name, shape.name, *shape.synonyms))
    adj = adjective(colour, shape)
    templates = (
        lambda: f"{adj} {noun}",
        lambda: f"{adj} {noun}",
        lambda: f"{noun} {adj}",
        lambda: f"{noun} {colour.genitive} цвета",
        lambda: f"{rng.choice(_PLACES)} {adj} {noun}",
        lambda: f"{adj} {noun} {rng.choice(_PLACES)}",
        lambda: f"{rng.choice(_WITH)} {adjective_instrumental(colour, shape)} {shape.instrumental}",
        lambda: f"{rng.choice(_PLACES)} {noun} {colour.genitive} цвета",
        lambda: f"{noun}, {adj}",
    )
    return rng.choice(templates)()


def _colour_only(rng: random.Random, colour: Colour) -> str:
    templates = (
        lambda: colour.name,
        lambda: colour.name,
        lambda: colour.feminine,
        lambda: colour.neuter,
        lambda: f"{colour.genitive} цвета",
        lambda: f"что-то {colour.neuter}",
        lambda: f"{rng.choice(_PLACES)} что-то {colour.neuter}",
        lambda: f"цвет {colour.name}",
    )
    return rng.choice(templates)()


def _shape_only(rng: random.Random, shape: Shape) -> str:
    noun = rng.choice((shape.name, shape.name, *shape.synonyms))
    templates = (
        lambda: noun,
        lambda: noun,
        lambda: f"{rng.choice(_PLACES)} {noun}",
        lambda: f"{rng.choice(_WITH)} {shape.instrumental}",
        lambda: f"фигура: {noun}",
    )
    return rng.choice(templates)()


def random_caption(
    rng: random.Random, colour: Colour, shape: Shape, *, p_colour_only: float = 0.15, p_shape_only: float = 0.3
) -> Caption:
    """A caption of an image of `colour` `shape`: both attributes, or one of them as a user might type.

    Users often type «е» for «ё» («желтый»), so a third of the captions drop the dots. Shape-only
    captions outnumber colour-only ones: colour is learnt in a few steps, shape is the hard part.
    """
    draw = rng.random()
    if draw < p_colour_only:
        caption = Caption(_colour_only(rng, colour), colour.name, None)
    elif draw < p_colour_only + p_shape_only:
        caption = Caption(_shape_only(rng, shape), None, shape.name)
    else:
        caption = Caption(_both(rng, colour, shape), colour.name, shape.name)
    if rng.random() < 1 / 3:
        caption = Caption(caption.text.replace("ё", "е"), caption.colour, caption.shape)
    return caption


def known_words() -> tuple[str, list[str]]:
    """What the demo model knows, for its known_words.txt: a one-line summary and every form of a
    colour or shape word the captions use, with the plurals a person types («красные круги»), whose
    BPE pieces are those of the trained forms. Words that only frame a caption («фото», «на») are
    left out: a query made of them alone asks nothing the model can answer."""
    forms: set[str] = set()
    for colour in COLOURS:
        stem, soft = colour.name[:-2], colour.name.endswith("ий")
        plural = ("ие", "их", "ими") if soft else ("ые", "ых", "ыми")
        forms.update((colour.name, colour.feminine, colour.neuter, colour.genitive))
        forms.update((colour.instrumental_m, colour.instrumental_f, *(stem + ending for ending in plural)))
    for shape in SHAPES:
        forms.update((shape.name, shape.genitive, shape.instrumental, *shape.synonyms))
    plurals = ("круги", "кругов", "кругами", "кружки", "кружков", "квадраты", "квадратов", "квадратами")
    plurals += ("треугольники", "треугольников", "треугольниками", "звёзды", "звёзд", "звёздами", "звёздочки")
    forms.update(plurals)
    forms.update({form.replace("ё", "е") for form in forms})
    summary = (
        "цвета и фигуры: "
        + ", ".join(colour.name for colour in COLOURS)
        + "; "
        + ", ".join(shape.name for shape in SHAPES)
    )
    return summary, sorted(forms)


def tokenizer_corpus(rng: random.Random, lines: int = 20_000) -> list[str]:
    """Text to learn the BPE vocabulary from: many captions, plus every letter and digit a user may
    type, so that no character of a query falls to the unknown token."""
    corpus = [random_caption(rng, rng.choice(COLOURS), rng.choice(SHAPES)).text for _ in range(lines)]
    corpus.append("абвгдеёжзийклмнопрстуфхцчшщъыьэюя abcdefghijklmnopqrstuvwxyz 0123456789 .,:;!?-+()\"'")
    return corpus


def demo_tags() -> str:
    """The demo model's tags.txt (search/classify/tag_vocabulary.py reads it): a group of its colours
    and one of its shapes, each with the forms a caption uses, since the model knows nothing else."""
    lines = [
        "# The demo model's own tags: the colours and shapes it was trained on (it knows nothing else).",
        "# A line: the tag's name, then other phrasings, separated by «|»; [a group] starts a group.",
        "[цвет]",
        *(f"{c.name} | {c.genitive} цвета | {c.feminine}" for c in COLOURS),
        "[фигура]",
        *(" | ".join((shape.name, *shape.synonyms)) for shape in SHAPES),
    ]
    return "\n".join(lines) + "\n"
