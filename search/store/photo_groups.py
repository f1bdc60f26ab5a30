"""Files that are one photo: identical copies and camera RAW twins.

- A **copy** has the same bytes (content hash) as another file: of each content, one row is indexed
  (in the FAISS file); the others are RowState.COPY and come back in its hit's `also_at`.
- A **RAW twin** is a camera RAW file beside a picture of the same name (IMG_0042.CR2 next to
  IMG_0042.JPG: the camera wrote both, or the user exported one): the picture is the photo shown,
  the RAW is RowState.TWIN and listed with it. Without its picture, a RAW is a photo of its own.

Every row keeps its vector, so a change (the shown file deleted, edited or failing) only moves the
states: the settle functions run inside the transaction that changed rows, and a row whose state
changes gets that transaction's change counter, so the FAISS cache replays it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from sqlalchemy import Connection, String, bindparam, cast, or_, select, update
from sqlalchemy.orm import Session

from ..constants import RAW_SUFFIXES
from .schema import ImageRow, RowState

CHUNK = 500  # SQLite caps the number of bound parameters in one statement
SHOWN_WITH_OTHERS = (RowState.INDEXED.value, RowState.COPY.value)  # rows a copy can be settled among


def settle_copies(session: Session, hashes: set[str | None], seq: int) -> None:
    """Keep one indexed row per content among the indexed and copy rows of each hash (the oldest
    indexed one, else the oldest row): the others become copies, and a content whose indexed row
    was deleted, changed or failed gets one of its copies promoted."""
    hashes.discard(None)
    ordered = sorted(hashes)
    for start in range(0, len(ordered), CHUNK):
        rows = session.execute(
            select(ImageRow.id, ImageRow.content_hash, ImageRow.state)
            .where(ImageRow.content_hash.in_(ordered[start : start + CHUNK]))  # the state: below (BY_HASH_ONLY)
            .order_by(ImageRow.content_hash, ImageRow.state != RowState.INDEXED.value, ImageRow.id)
        ).all()
        keeper: dict[str, int] = {}
        for row_id, digest, state in rows:  # per hash, the first row is its oldest indexed one, if any
            if state not in SHOWN_WITH_OTHERS:
                continue
            wanted = RowState.INDEXED.value if keeper.setdefault(digest, row_id) == row_id else RowState.COPY.value
            if state != wanted:
                session.execute(update(ImageRow).where(ImageRow.id == row_id).values(state=wanted, seq=seq))


# BY_HASH_ONLY: a query by content hash leaves the state out of its WHERE clause and checks it in
# Python. With both there, SQLite (which keeps no statistics here) may pick the index on state, which
# nearly every row shares, and scan the whole table for a handful of rows: a cost per batch that grows
# with the collection.


def indexed_of(connection: Connection | Session, digest: str | None) -> int | None:
    """The id of the indexed row of a content (None if none is)."""
    rows = connection.execute(select(ImageRow.id, ImageRow.state).where(ImageRow.content_hash == digest))
    return next((row_id for row_id, state in rows if state == RowState.INDEXED.value), None)


def is_raw(path: bytes) -> bool:
    return os.path.splitext(path)[1].decode("ascii", "replace").lower() in RAW_SUFFIXES


def holds_raw_files(session: Session) -> bool:
    """Whether any row's file is a camera RAW (one scan of the paths; LIKE on text ignores ASCII case,
    on the stored bytes it would not)."""
    as_text = cast(ImageRow.path, String)
    named_raw = or_(*(as_text.like(f"%{suffix}") for suffix in sorted(RAW_SUFFIXES)))
    return session.execute(select(ImageRow.id).where(named_raw).limit(1)).first() is not None


def name_prefix(path: bytes) -> bytes | None:
    """b"/photos/IMG_1." for b"/photos/IMG_1.CR2": what the paths of a file's twins start with."""
    stem, suffix = os.path.splitext(path)
    return stem + b"." if suffix else None


# Prebuilt: searches ask for the twins of every hit, and building a statement costs more than running it.
_SAME_NAME = select(ImageRow.id, ImageRow.path, ImageRow.state, ImageRow.content_hash).where(
    ImageRow.path >= bindparam("low"),
    ImageRow.path < bindparam("high"),  # a range on the unique index of paths
    ImageRow.state != RowState.FAILED.value,
)
_ANY_TWIN = select(ImageRow.id).where(ImageRow.state == RowState.TWIN.value).limit(1)


def _same_name(connection: Connection | Session, prefix: bytes) -> list[tuple[int, bytes, str, str | None]]:
    """(id, path, state, content hash) of the readable files named prefix + one suffix."""
    rows = connection.execute(_SAME_NAME, {"low": prefix, "high": prefix + b"\xff"}).all()
    separator = os.sep.encode()
    return [tuple(row) for row in rows if b"." not in row[1][len(prefix) :] and separator not in row[1][len(prefix) :]]


def settle_raw_twins(session: Session, paths: Iterable[bytes], seq: int) -> set[str | None]:
    """A RAW beside a readable picture of the same name becomes its twin; a twin whose picture is
    gone (deleted, moved, failing) is a photo again. Returns the content hashes of rows that changed
    (a RAW promoted may have copies of its own to settle)."""
    changed: set[str | None] = set()
    for prefix in {prefix for prefix in map(name_prefix, paths) if prefix}:
        rows = _same_name(session, prefix)
        has_picture = any(not is_raw(path) and state in SHOWN_WITH_OTHERS for _, path, state, _ in rows)
        for row_id, path, state, digest in rows:
            if not is_raw(path) or state == RowState.COPY.value:
                continue
            wanted = RowState.TWIN.value if has_picture else RowState.INDEXED.value
            if state != wanted:
                session.execute(update(ImageRow).where(ImageRow.id == row_id).values(state=wanted, seq=seq))
                changed.add(digest)
    return changed


def raw_twins_of(connection: Connection, paths: Iterable[bytes]) -> dict[bytes, list[bytes]]:
    """Path of a shown picture -> the paths of its RAW twins (only pictures that have some)."""
    found: dict[bytes, list[bytes]] = {}
    if connection.execute(_ANY_TWIN).first() is None:  # a collection without RAW twins: one lookup
        return found
    for path in paths:
        prefix = name_prefix(path)
        if prefix is None or is_raw(path):
            continue
        twins = [twin for _, twin, state, _ in _same_name(connection, prefix) if state == RowState.TWIN.value]
        if twins:
            found[path] = sorted(twins)
    return found


def picture_of_twin(connection: Connection | Session, path: bytes) -> int | None:
    """The id of the indexed row shown for a RAW twin (its picture, or the picture's indexed copy)."""
    prefix = name_prefix(path)
    if prefix is None:
        return None
    for row_id, other, state, digest in _same_name(connection, prefix):
        if is_raw(other):
            continue
        if state == RowState.INDEXED.value:
            return row_id
        if state == RowState.COPY.value:
            return indexed_of(connection, digest)
    return None
