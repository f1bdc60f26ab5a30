"""What the storage layer hands out and takes in: frozen dataclasses and named tuples, no ORM objects."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

from ..errors import ImageProblem
from ..images.facts import PhotoFacts
from .layout import MetaKey

if TYPE_CHECKING:  # numpy is not imported for the quick path (catalog.py)
    import numpy as np
    import numpy.typing as npt


class FileFacts(Protocol):
    """A file as a scan saw it (indexer.scan.FoundFile is one)."""

    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ModelRecord:
    """The model an index was built with: queries must come from the same weights."""

    name: str
    fingerprint: str  # sha256 of the weights file
    embed_dim: int

    @classmethod
    def from_meta(cls, meta: Mapping[str, str]) -> ModelRecord | None:
        """From the metadata table's key -> value (None before a first build recorded a model)."""
        name, fingerprint = meta.get(MetaKey.MODEL_NAME), meta.get(MetaKey.MODEL_FINGERPRINT)
        dim = meta.get(MetaKey.EMBED_DIM)
        if name is None or fingerprint is None or dim is None:
            return None
        return cls(name, fingerprint, int(dim))


@dataclass(frozen=True)
class VectorFileRecord:
    """The FAISS file as it was written: a file that disagrees is not trusted (see vectors.py)."""

    name: str
    seq: int  # holds every change up to this change counter
    size_bytes: int | None  # None: recorded by schema 1, before files were checksummed
    sha256: str | None
    count: int | None  # vectors it holds; None for a file recorded by schema 1
    mtime_ns: int | None = None  # its modification time once in place

    @classmethod
    def from_meta(cls, meta: Mapping[str, str]) -> VectorFileRecord | None:
        """From the metadata table's key -> value (None before a first FAISS file was written)."""
        name = meta.get(MetaKey.VECTOR_FILE)
        if name is None:
            return None

        def number(key: MetaKey) -> int | None:
            value = meta.get(key)
            return None if value is None else int(value)

        return cls(
            name=name,
            seq=number(MetaKey.VECTOR_FILE_SEQ) or 0,
            size_bytes=number(MetaKey.VECTOR_FILE_BYTES),
            sha256=meta.get(MetaKey.VECTOR_FILE_SHA256),
            count=number(MetaKey.VECTOR_FILE_COUNT),
            mtime_ns=number(MetaKey.VECTOR_FILE_MTIME),
        )

    def is_current(self, change_counter: int, folder: Path) -> bool:
        """Holds every committed change, and is by its size and mtime the file that was written."""
        return self.seq == change_counter and self.stat_matches(folder)

    def stat_matches(self, folder: Path) -> bool:
        """Whether the file in `folder` still has the size and mtime it was recorded with: the cheap
        test that lets an unchanged run skip reading it (readers check the sha256)."""
        try:
            stat = (folder / self.name).stat()
        except OSError:
            return False
        return stat.st_size == self.size_bytes and stat.st_mtime_ns == self.mtime_ns


class KnownRow(NamedTuple):
    """A file the index knows, as the planner compares it with a scan (a tuple: a large collection
    reads a hundred thousand of them on every run)."""

    id: int
    path: bytes
    size: int
    mtime_ns: int
    indexed: bool  # indexed or an identical copy, else failed: all the planner needs of the state (1/0 from sqlite3)
    content_hash: str | None
    retry: bool = False  # failed for a reason that says nothing about the file (errors.RETRIED_PROBLEMS): try again
    unprinted: bool = False  # indexed without the picture's print (an older build, the GPU route): decode for it


@dataclass(frozen=True)
class IndexedImage:
    """A decoded and encoded file, to be written as an indexed row (one column per fact, same name)."""

    file: FileFacts
    vector: npt.NDArray[np.float32]  # (embed_dim,), unit length
    facts: PhotoFacts
    reused: bool = False  # the vector is an identical file's, already indexed: nothing was encoded


@dataclass(frozen=True)
class FailedImage:
    """A file that could not be indexed, to be written as a failed row."""

    file: FileFacts
    reason: ImageProblem  # groups failures; its value is what the row records
    detail: str


@dataclass(frozen=True)
class HitRow:
    """What a hit shows of an indexed row: each field is read from the column of its name."""

    id: int
    path: str
    width: int | None
    height: int | None
    taken_at: datetime | None
    camera: str | None
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True)
class Failure:
    """A file the index could not take, and why (the reason groups failures; detail is the message)."""

    path: str
    reason: ImageProblem | str  # a str only for a reason recorded by another version of the indexer
    detail: str


def problem_of(recorded: str | None) -> ImageProblem | str:
    """A failed row's recorded reason as the ImageProblem it names (as recorded when it names none)."""
    try:
        return ImageProblem(recorded)
    except ValueError:
        return str(recorded)


@dataclass(frozen=True)
class IndexStats:
    """What an index holds: the one summary behind PhotoIndex.stats(), `indexer stats` and the page."""

    images: int  # searchable: one per content, identical copies counted apart
    failed: int
    failures: dict[ImageProblem | str, int]  # reason (see Failure.reason) -> count, most frequent first
    model: str
    index_type: str  # "flat-ip" or "ivf<lists>-sq8"
    roots: list[str]  # the photo folders it was built from
    last_change: int  # grows with every committed change: a cheap "is there news?" check
    taken_from: datetime | None = None  # the EXIF dates the searchable photos span (None: no dates)
    taken_to: datetime | None = None
    last_build: datetime | None = None  # when the last build finished (UTC); None while the first runs
    embed_dim: int | None = None
    model_fingerprint: str | None = None
    vector_file: str | None = None  # the FAISS file's name
    copies: int = 0  # files identical to a searchable photo, shown with it ("also at")
    raw_twins: int = 0  # camera RAW files shown with the picture of the same name beside them
    with_text: int = 0  # searchable photos whose text was read and holds words (build --ocr)


def path_key(path: str | os.PathLike[str]) -> bytes:
    """How a path is stored: the file system's bytes."""
    return os.fsencode(path)
