"""The vocabulary of zero-shot tags, as text: which tags a model gets and what its tags depend on.

Light (hashlib and pathlib only): the quick path of a build asks `labels_key` to tell an unchanged
run apart, and must not import numpy for it.

A vocabulary file: `[group]` lines start a group; every other line is `name | phrasing | …` (the name
is what the user sees and types, the phrasings are what the model reads, each in every prompt
template); `#` starts a comment. A model folder may ship its own (`tags.txt`, as the demo's colours
and shapes); otherwise the packaged Russian vocabulary (`tags/ru.txt`) is used.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

TAGS_FILE = "tags.txt"  # a model folder's own vocabulary
PACKAGED = Path(__file__).resolve().parent / "tags"
DEFAULT_VOCABULARY = PACKAGED / "ru.txt"
TEMPLATES_FILE = PACKAGED / "templates.txt"
# The neutral rival of every group: what a photo is when it is nothing of the group in particular.
NEUTRAL_PHRASINGS = ("фото", "изображение", "картинка", "снимок")
USER_GROUP = "свои"  # the group of the user's own tags
# Raised when how the vocabulary is embedded or tags are decided changes: every index tags again.
VOCABULARY_FORMAT = 1


@dataclass(frozen=True)
class TagSpec:
    """One tag: its name (the first phrasing), its group and every phrasing of it."""

    name: str
    group: str
    phrasings: tuple[str, ...]


def parse_vocabulary(text: str, default_group: str = "") -> list[TagSpec]:
    """The tags of a vocabulary file's text, in its order; a name given twice keeps its first line."""
    specs: dict[str, TagSpec] = {}
    group = default_group
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
            continue
        phrasings = tuple(part.strip() for part in line.split("|") if part.strip())
        if phrasings and phrasings[0] not in specs:
            specs[phrasings[0]] = TagSpec(phrasings[0], group, phrasings)
    return list(specs.values())


def read_templates(path: Path = TEMPLATES_FILE) -> tuple[str, ...]:
    """The prompt templates ("{}" is a phrasing), comments and blank lines left out."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


def vocabulary_file(model_folder: Path | None) -> Path:
    """The model folder's own tags.txt when it ships one, else the packaged Russian vocabulary."""
    if model_folder is not None and (Path(model_folder) / TAGS_FILE).is_file():
        return Path(model_folder) / TAGS_FILE
    return DEFAULT_VOCABULARY


def vocabulary_of(model_folder: Path | None) -> list[TagSpec]:
    """The tags a model gets (see vocabulary_file)."""
    return parse_vocabulary(vocabulary_file(model_folder).read_text(encoding="utf-8"))


def labels_key(model_fingerprint: str, model_folder: Path | None, threshold: float) -> str:
    """What the photos' vocabulary tags depend on besides their vectors: the model's weights, the
    vocabulary and templates as written, the neutral rival, how they are embedded, the threshold.
    A user's own tags are embedded and applied when added, so they need no part of it."""
    digest = hashlib.sha256(f"format {VOCABULARY_FORMAT}\n{threshold!r}\n{model_fingerprint}\n".encode())
    for path in (vocabulary_file(model_folder), TEMPLATES_FILE):
        digest.update(path.read_bytes())
        digest.update(b"\0")
    digest.update("|".join(NEUTRAL_PHRASINGS).encode())
    return digest.hexdigest()
