"""What the tags and categories API answers. Light: the CLI and the page import these at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class TagSummary:
    """A tag: its name, its group of the vocabulary («животные»; «свои» for the user's own), how many
    indexed photos carry it, the one that carries it most (None when none does)."""

    name: str
    group: str
    count: int
    cover_id: int | None
    own: bool  # added by the user (`tags add`), not of the vocabulary


@dataclass(frozen=True)
class CategorySummary:
    """A personal category: its examples, its «не то», how many photos are members, its best one."""

    name: str
    text: str | None  # the words given as its prior, if any
    examples: tuple[int, ...]
    not_examples: tuple[int, ...]
    members: int
    cover_id: int | None
    trained_at: datetime
    usable: bool  # False: fitted on another model's vectors, so it is never applied


@dataclass(frozen=True)
class Member:
    """A photo of a category with the probe's probability that it belongs (≥ one half)."""

    id: int
    score: float
