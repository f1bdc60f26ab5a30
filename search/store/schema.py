"""The tables of index.sqlite (SQLAlchemy 2.0 ORM) and the types of what they hold.

One row per file seen (`images`), the photo folders (`roots`), the ids deleted since the FAISS file
was written (`removed`) and the index's facts (`meta`, keyed by `MetaKey`). SCHEMA_VERSION counts
layout changes; migrations.py upgrades older folders step by step.
"""

from __future__ import annotations

import os
from datetime import datetime

from sqlalchemy import DDL, Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .layout import DATABASE_FILE, SCHEMA_VERSION, MetaKey, RowState

__all__ = [
    "DATABASE_FILE",
    "SCHEMA_VERSION",
    "Base",
    "CategoryExample",
    "CategoryRow",
    "ImageRow",
    "Meta",
    "MetaKey",
    "PhotoCategory",
    "PhotoTag",
    "PhotoText",
    "TEXT_SEARCH_TABLE",
    "TextState",
    "Removed",
    "Root",
    "RowState",
    "TagRow",
]


class Base(DeclarativeBase):
    pass


class Root(Base):
    """A photo folder this index was built from; the UI serves files from inside these only."""

    __tablename__ = "roots"
    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(String, unique=True)


class ImageRow(Base):
    __tablename__ = "images"
    # AUTOINCREMENT: a deleted photo's id is never handed to another one, so an id held by the UI,
    # a FAISS file or the `removed` table always means the same photo.
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(primary_key=True)
    root_id: Mapped[int] = mapped_column(ForeignKey("roots.id"), index=True)
    # Paths are stored as the file system's bytes: a Linux name need not be valid UTF-8.
    path: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    size: Mapped[int] = mapped_column(Integer)
    mtime_ns: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str | None] = mapped_column(String(32), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)  # a RowState
    reason: Mapped[str | None] = mapped_column(String)  # a failure's group (an ImageProblem value)
    detail: Mapped[str | None] = mapped_column(String)  # a failure's full message
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    taken_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    camera: Mapped[str | None] = mapped_column(String)
    latitude: Mapped[float | None] = mapped_column(Float)  # EXIF GPS, decimal degrees (schema 4)
    longitude: Mapped[float | None] = mapped_column(Float)
    # 8 × 8 RGB cell means of the picture (search/images/picture_print.py), for near-duplicate groups (schema 5)
    picture_print: Mapped[bytes | None] = mapped_column(LargeBinary)
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)  # float32 × embed_dim, unit length
    seq: Mapped[int] = mapped_column(Integer, index=True)  # the change counter when last written

    @property
    def file_path(self) -> str:
        return os.fsdecode(self.path)


class Removed(Base):
    """Ids deleted at a change counter: the FAISS file drops them when it catches up."""

    __tablename__ = "removed"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, index=True)


class Meta(Base):
    """Key/value facts of the index (see MetaKey)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str] = mapped_column(String)


# --- schema 6: zero-shot tags and personal categories -----------------------------------------------


class TagRow(Base):
    """A tag and its unit text vector for the index's model: of the vocabulary (`source` "vocabulary"),
    the user's own ("user"), or the neutral rival every group's shares are taken against ("neutral")."""

    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String, unique=True)
    group: Mapped[str] = mapped_column("tag_group", String)
    source: Mapped[str] = mapped_column(String(16))
    phrasings: Mapped[str] = mapped_column(String)  # «|»-separated, to embed again for another model
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32 × embed_dim


class PhotoTag(Base):
    """A tag of an indexed photo and its share in the tag's group."""

    __tablename__ = "photo_tags"
    image_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id"), primary_key=True, index=True)
    score: Mapped[float] = mapped_column(Float)


class CategoryRow(Base):
    """A personal category: a linear probe on the model's image vectors, taught from examples
    (search/classify/category.py); a photo's score is sigmoid(vector · weights + bias)."""

    __tablename__ = "categories"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String, unique=True)
    text: Mapped[str | None] = mapped_column(String)  # the optional text prior, as the user wrote it
    model_fingerprint: Mapped[str] = mapped_column(String)  # the weights whose vectors it was fitted on
    weights: Mapped[bytes] = mapped_column(LargeBinary)  # float32 × embed_dim, the text prior folded in
    bias: Mapped[float] = mapped_column(Float)
    trained_at: Mapped[datetime] = mapped_column(DateTime)


class CategoryExample(Base):
    """A photo the user showed a category: a member (`positive`) or «не то»."""

    __tablename__ = "category_examples"
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), primary_key=True)
    image_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    positive: Mapped[bool] = mapped_column(Boolean)


class PhotoCategory(Base):
    """An indexed photo the category's probe accepts, with its score (the probe's probability)."""

    __tablename__ = "photo_categories"
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), primary_key=True, index=True)
    image_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    score: Mapped[float] = mapped_column(Float)


# --- schema 7: text in photos -----------------------------------------------------------------------


class TextState:
    """What the OCR stage did with a photo (PhotoText.state)."""

    READ = "read"  # read: `text` holds what was recognised (may be empty: no word above the floor)
    SKIPPED = "skipped"  # judged unlikely to hold text by `--ocr auto`; read by a later `--ocr all`
    FAILED = "failed"  # the reader crashed, hung or could not open it: tried again only when it changes


class PhotoText(Base):
    """An indexed photo's recognised text, for the content it had when read (an edited photo, whose
    content hash changes, is read again). Its words, normalised and stemmed, are in TEXT_SEARCH_TABLE."""

    __tablename__ = "photo_text"
    image_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(32), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)  # a TextState
    text: Mapped[str | None] = mapped_column(String)  # as recognised, lines joined by "\n"
    confidence: Mapped[float | None] = mapped_column(Float)  # the kept words' mean, 0-100
    reader_key: Mapped[str] = mapped_column(String)  # the OCR engine's key it was read with
    detail: Mapped[str | None] = mapped_column(String)  # a failure's message


# An FTS5 table of the photos' words (search/ocr/words.py document_of: lower case, ё as е, stemmed),
# rowid = the image id. unicode61 splits them again on spaces; the prefix index serves «электр*».
TEXT_SEARCH_TABLE = "photo_text_words"
event.listen(
    PhotoText.__table__,
    "after_create",
    DDL(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {TEXT_SEARCH_TABLE} USING fts5("
        "words, tokenize = 'unicode61 remove_diacritics 0', prefix = '2 3 4')"
    ),
)
event.listen(PhotoText.__table__, "before_drop", DDL(f"DROP TABLE IF EXISTS {TEXT_SEARCH_TABLE}"))
