"""The words a model knows, when its folder says (known_words.txt): an honest "I don't know".

CLIP-style models rank every photo for any text. A model trained on a small world (the demo knows
colours and shapes) then answers «кот» with its closest shapes at scores that look confident. A
model folder may ship the words it was trained on; a text query with none of them gets a sentence
saying what the model knows instead of a ranking. Published ruCLIP models ship no such list.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .constants import DEMO_MODEL, KNOWN_WORDS_FILE

_WORD = re.compile(r"[^\W\d_]+")  # letters only: digits, weights («2:») and signs are not words


def _normalised(word: str) -> str:
    return word.lower().replace("ё", "е")  # «желтый» is typed as often as «жёлтый»


def words_of(text: str) -> list[str]:
    """The words of a text, lower-case, «ё» read as «е»."""
    return [_normalised(word) for word in _WORD.findall(text)]


@dataclass(frozen=True)
class Vocabulary:
    words: frozenset[str]  # normalised
    summary: str  # what the words cover, e.g. «цвета и фигуры: красный, …»

    @classmethod
    def of_model_folder(cls, folder: str | os.PathLike[str]) -> Vocabulary | None:
        """The folder's known_words.txt, or None when it has none (the model may know anything)."""
        path = Path(folder) / KNOWN_WORDS_FILE
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return None
        summary = next((line[1:].strip() for line in lines if line.startswith("#")), "")
        words = frozenset(_normalised(line.strip()) for line in lines if line.strip() and not line.startswith("#"))
        return cls(words, summary) if words else None

    def knows_any_word_of(self, text: str) -> bool:
        return any(word in self.words for word in words_of(text))

    def explanation(self, model_name: str, text: str) -> str:
        """Why a query gets no results (in Russian: the page and the CLI show it as it is)."""
        asked = ", ".join(f"«{word}»" for word in dict.fromkeys(words_of(text))) or f"«{text.strip()}»"
        who = "Демо-модель" if model_name == DEMO_MODEL else f"Модель {model_name}"
        return (
            f"{who} знает только {self.summary}. В запросе ({asked}) нет ни одного из этих слов, "
            "поэтому фото не показаны."
        )
