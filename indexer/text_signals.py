"""Which photos `--ocr auto` sends to the text reader: the ones likely to hold text.

Reading a photo's text costs about as much as decoding and encoding it, and most photos of a family
collection hold none. So a photo is read when a cheap signal says it may: a screenshot's pixel size,
a lossless format without a camera (screenshots, scans, saved pictures), the shape of a receipt or a
phone screen, a file name that says so, or one of its zero-shot tags of the documents group (what
a real ruCLIP sees; the demo model has no such tags). How often each is right is in BENCHMARKS.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from search.store.texts import TextCandidate

# The tag group of the vocabulary (search/classify/tags/ru.txt) whose tags mean "text to read".
TEXT_TAG_GROUP = "документы и скриншоты"

# Screen sizes of phones, tablets and monitors (width × height, either way round): a photo of
# exactly such a size is almost always a screenshot.
SCREEN_SIZES = frozenset(
    {
        (640, 1136), (750, 1334), (828, 1792), (1080, 1920), (1080, 2160), (1080, 2220), (1080, 2280),
        (1080, 2340), (1080, 2400), (1080, 2412), (1125, 2436), (1170, 2532), (1179, 2556), (1242, 2208),
        (1242, 2688), (1284, 2778), (1290, 2796), (1440, 2560), (1440, 2960), (1440, 3040), (1440, 3200),
        (720, 1280), (720, 1520), (720, 1600), (1536, 2048), (1620, 2160), (1640, 2360), (1668, 2388),
        (2048, 2732), (1280, 800), (1280, 1024), (1366, 768), (1440, 900), (1536, 864), (1600, 900),
        (1680, 1050), (1920, 1080), (1920, 1200), (2560, 1440), (2560, 1600), (2880, 1800), (3024, 1964),
        (3456, 2234), (3840, 2160),
    }
)  # fmt: skip
LOSSLESS_SUFFIXES = frozenset({".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
# Words of a file name that say it holds text (lower case; Russian phones and desktops name
# screenshots «Скриншот…» and «Снимок экрана…»).
NAME_HINTS = ("screenshot", "screen shot", "screen_shot", "скриншот", "снимок экрана", "scan", "скан", "receipt",
              "чек", "document", "документ", "doc_", "ticket", "билет")  # fmt: skip
# Height over width (or the other way) from which a picture is the shape of a receipt or of a tall
# phone screen, not of a camera's frame (3:2 is 1.5, 16:9 is 1.78).
TALL_RATIO = 1.9


def likely_text(candidate: TextCandidate, tags: Iterable[str], text_tags: frozenset[str]) -> bool:
    """Whether `--ocr auto` reads this photo: a cheap signal or a tag of the documents group says
    it may hold text."""
    if not text_tags.isdisjoint(tags):
        return True
    width, height = candidate.width or 0, candidate.height or 0
    if (width, height) in SCREEN_SIZES or (height, width) in SCREEN_SIZES:
        return True
    name = os.path.basename(candidate.path).lower()
    if any(hint in name for hint in NAME_HINTS):
        return True
    suffix = os.path.splitext(name)[1]
    no_camera = not candidate.camera
    if suffix in LOSSLESS_SUFFIXES and no_camera:
        return True
    short, long = sorted((width, height))
    return no_camera and short > 0 and long / short >= TALL_RATIO
