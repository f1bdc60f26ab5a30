"""Schema versions and the steps between them: an index folder written by an older release opens,
upgrades itself in place (every step in the one transaction that opens it) and keeps every row
and vector.

Version 1 (up to commit 8b30075): the tables of schema.py; the FAISS file recorded by name and
change counter only. Version 2: the FAISS file's size, sha256 and vector count are recorded too, so
that a swapped, truncated or bit-flipped file is noticed and rebuilt from SQLite. Version 3: files
with the same content are one photo: one row per content is indexed, the others are copies
(RowState.COPY), kept out of the FAISS file and shown with it. Version 4: where a photo was taken
(EXIF GPS latitude and longitude), empty for the rows written before (a rebuild with changed files fills
theirs; unchanged files keep none until they are indexed again). Version 5: the picture's print
(search/images/picture_print.py) for near-duplicate groups, empty for the rows written before: the next
build decodes those rows again for it (their vectors kept), and until then the grouping judges a pair
without a print by the embedding alone. Version 6: zero-shot tags and personal categories (the tables
tags, photo_tags, categories, category_examples, photo_categories), empty: the next build embeds the
vocabulary and tags every photo from its stored vector, decoding nothing. Version 7: text in photos
(photo_text and its FTS5 table of words), empty: the next build with OCR reads the photos it selects.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from ..clip.folder import file_fingerprint
from ..errors import IndexStoreError, StoreProblem
from ..i18n import _
from .schema import (
    DATABASE_FILE,
    SCHEMA_VERSION,
    CategoryExample,
    CategoryRow,
    ImageRow,
    Meta,
    MetaKey,
    PhotoCategory,
    PhotoTag,
    PhotoText,
    RowState,
    TagRow,
)

log = logging.getLogger(__name__)


def _checksum_vector_file(session: Session, folder: Path) -> None:
    """1 -> 2: record the size and checksum of the FAISS file as it is now (it was trusted before the
    upgrade; from now on a file that changes behind the index's back is not). Its vector count stays
    unknown: it is checked against SQLite when the file is next written."""
    name = session.get(Meta, MetaKey.VECTOR_FILE.value)
    if name is None:
        return
    path = folder / name.value
    if not path.is_file():
        return  # missing: rebuilt from SQLite on open, as before
    session.merge(Meta(key=MetaKey.VECTOR_FILE_BYTES.value, value=str(path.stat().st_size)))
    session.merge(Meta(key=MetaKey.VECTOR_FILE_SHA256.value, value=file_fingerprint(path)))
    session.merge(Meta(key=MetaKey.VECTOR_FILE_MTIME.value, value=str(path.stat().st_mtime_ns)))


def _identical_files_as_copies(session: Session, folder: Path) -> None:
    """2 -> 3: of the indexed rows that share a content hash, the oldest stays indexed and the others
    become its copies. They get a new change counter, so the FAISS cache drops them at its next
    catch-up, as it does for any change a build commits."""
    indexed = RowState.INDEXED.value
    shared = (
        select(ImageRow.content_hash)
        .where(ImageRow.state == indexed, ImageRow.content_hash.is_not(None))
        .group_by(ImageRow.content_hash)
        .having(func.count() > 1)
    )
    rows = session.execute(
        select(ImageRow.id, ImageRow.content_hash)
        .where(ImageRow.state == indexed, ImageRow.content_hash.in_(shared))
        .order_by(ImageRow.content_hash, ImageRow.id)
    ).all()
    if not rows:
        return
    counter = session.get(Meta, MetaKey.CHANGE_COUNTER.value)
    seq = int(counter.value if counter else 0) + 1
    session.merge(Meta(key=MetaKey.CHANGE_COUNTER.value, value=str(seq)))
    kept: set[str] = set()
    copies = []
    for row_id, digest in rows:
        if digest in kept:
            copies.append(row_id)
        kept.add(digest)
    for start in range(0, len(copies), 500):  # SQLite caps the parameters of one statement
        chunk = copies[start : start + 500]
        session.execute(update(ImageRow).where(ImageRow.id.in_(chunk)).values(state=RowState.COPY.value, seq=seq))


def _gps_columns(session: Session, folder: Path) -> None:
    """3 -> 4: the images table gains the GPS position's columns, empty (NULL) for every row."""
    for column in ("latitude", "longitude"):
        session.execute(text(f"ALTER TABLE images ADD COLUMN {column} FLOAT"))


def _picture_print_column(session: Session, folder: Path) -> None:
    """4 -> 5: the images table gains the picture's print, empty (NULL) for every row."""
    session.execute(text("ALTER TABLE images ADD COLUMN picture_print BLOB"))


def _tag_and_category_tables(session: Session, folder: Path) -> None:
    """5 -> 6: the tables of tags and categories, empty."""
    tables = [model.__table__ for model in (TagRow, PhotoTag, CategoryRow, CategoryExample, PhotoCategory)]
    ImageRow.metadata.create_all(session.connection(), tables=tables)


def _photo_text_tables(session: Session, folder: Path) -> None:
    """6 -> 7: the photos' recognised text and its word index, empty."""
    ImageRow.metadata.create_all(session.connection(), tables=[PhotoText.__table__])


# STEPS[n] upgrades version n to n + 1.
STEPS: dict[int, Callable[[Session, Path], None]] = {
    1: _checksum_vector_file,
    2: _identical_files_as_copies,
    3: _gps_columns,
    4: _picture_print_column,
    5: _tag_and_category_tables,
    6: _photo_text_tables,
}


def stored_version(session: Session) -> int | None:
    value = session.scalar(select(Meta.value).where(Meta.key == MetaKey.SCHEMA_VERSION.value))
    return None if value is None else int(value)


def upgrade(session: Session, folder: Path) -> None:
    """Bring the database in `session` to SCHEMA_VERSION (a new one is stamped with it)."""
    version = stored_version(session)
    if version is None:
        session.merge(Meta(key=MetaKey.SCHEMA_VERSION.value, value=str(SCHEMA_VERSION)))
        return
    if version > SCHEMA_VERSION:
        raise IndexStoreError(
            _(
                "{value} was written by a newer version of this program (schema {version}, this one reads "
                "up to {SCHEMA_VERSION}); update it."
            ).format(value=folder / DATABASE_FILE, version=version, SCHEMA_VERSION=SCHEMA_VERSION),
            StoreProblem.NEWER_SCHEMA,
        )
    while version < SCHEMA_VERSION:
        log.info("upgrading the index in %s from schema %d to %d", folder, version, version + 1)
        STEPS[version](session, folder)
        version += 1
        session.merge(Meta(key=MetaKey.SCHEMA_VERSION.value, value=str(version)))
