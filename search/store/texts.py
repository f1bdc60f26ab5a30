"""Text in photos in index.sqlite: each indexed photo's recognised text and how it was read
(`photo_text`), and its words in an FTS5 table (schema 7).

Only here is their SQL. TextStore shares IndexStore's engine (IndexStore.texts). The words arrive
normalised and stemmed (search/ocr/words.py), so the store matches what it is given and knows no
language. A photo's text is for the content it had when read: an edited photo (another content
hash) is a candidate again, and a copy of a photo already read takes its text without a second read.
Reads join on indexed rows, so a deleted photo's stale text is never found before the next build
removes it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, delete, exists, func, insert, or_, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from .meta import read_meta, write_meta
from .schema import TEXT_SEARCH_TABLE, ImageRow, MetaKey, PhotoText, RowState, TextState

CHUNK = 500  # ids bound in one statement (SQLite caps bound parameters)
_INDEXED = ImageRow.state == RowState.INDEXED.value


@dataclass(frozen=True)
class TextCandidate:
    """An indexed photo the OCR stage may read: what its cheap signals are judged by."""

    id: int
    path: str
    content_hash: str
    width: int | None
    height: int | None
    camera: str | None


@dataclass(frozen=True)
class TextEntry:
    """What the OCR stage found for one photo. `words` is the FTS document (search/ocr/words.py)."""

    image_id: int
    content_hash: str
    state: str  # a TextState
    reader_key: str
    text: str | None = None
    confidence: float | None = None
    words: str = ""
    detail: str | None = None


@dataclass(frozen=True)
class KnownText:
    """A content's text as already read (copied to an identical photo instead of read again)."""

    state: str
    text: str | None
    confidence: float | None
    words: str
    detail: str | None


@dataclass(frozen=True)
class TextCounts:
    """How many indexed photos were read (and of them, how many hold words), skipped or failed."""

    read: int
    with_words: int
    skipped: int
    failed: int


def _chunks(ids: Sequence) -> list[list]:
    ids = list(ids)
    return [ids[start : start + CHUNK] for start in range(0, len(ids), CHUNK)]


class TextStore:
    """The recognised text of one index.sqlite (see the module's docstring)."""

    def __init__(self, engine: Engine, sessions: sessionmaker[Session]):
        self.engine = engine
        self._sessions = sessions

    # --- the state of the OCR stage --------------------------------------------------------------

    def read_up_to(self) -> tuple[str | None, int]:
        """(the key the last complete OCR stage ran with, the change counter it reached)."""
        with self._sessions() as session:
            return read_meta(session, MetaKey.TEXTS_KEY), int(read_meta(session, MetaKey.TEXTS_SEQ) or 0)

    def record_read(self, key: str, seq: int) -> None:
        with self._sessions.begin() as session:
            write_meta(session, MetaKey.TEXTS_KEY, key)
            write_meta(session, MetaKey.TEXTS_SEQ, seq)

    def candidates(self, since: int, reader_key: str, with_skipped: bool) -> list[TextCandidate]:
        """Indexed photos written after change counter `since` that have no text read with
        `reader_key` for their present content, and (`with_skipped`) every photo a former run skipped."""
        current = exists().where(
            PhotoText.image_id == ImageRow.id,
            PhotoText.content_hash == ImageRow.content_hash,
            PhotoText.reader_key == reader_key,
        )
        wanted = and_(ImageRow.seq > since, ~current)
        if with_skipped:
            skipped = exists().where(
                PhotoText.image_id == ImageRow.id,
                PhotoText.content_hash == ImageRow.content_hash,
                PhotoText.state == TextState.SKIPPED,
            )
            wanted = or_(wanted, skipped)
        columns = (ImageRow.id, ImageRow.path, ImageRow.content_hash, ImageRow.width, ImageRow.height, ImageRow.camera)
        with self._sessions() as session:
            rows = session.execute(select(*columns).where(_INDEXED, wanted).order_by(ImageRow.id)).all()
        return [
            TextCandidate(row.id, os.fsdecode(row.path), row.content_hash or "", row.width, row.height, row.camera)
            for row in rows
        ]

    def known_texts(self, hashes: Sequence[str], reader_key: str) -> dict[str, KnownText]:
        """The texts already read with `reader_key` of these contents (from any photo holding them)."""
        statement = text(
            f"SELECT p.content_hash, p.state, p.text, p.confidence, p.detail, w.words FROM photo_text AS p "
            f"LEFT JOIN {TEXT_SEARCH_TABLE} AS w ON w.rowid = p.image_id "
            "WHERE p.reader_key = :key AND p.state != :skipped AND p.content_hash IN :hashes"
        ).bindparams(bindparam("hashes", expanding=True))
        found: dict[str, KnownText] = {}
        with self.engine.connect() as connection:
            for chunk in _chunks(sorted(set(hashes))):
                for digest, state, recognised, confidence, detail, words in connection.execute(
                    statement, {"key": reader_key, "skipped": TextState.SKIPPED, "hashes": chunk}
                ):
                    found[digest] = KnownText(state, recognised, confidence, words or "", detail)
        return found

    def write(self, entries: Sequence[TextEntry]) -> None:
        """Store what was read (or judged) of these photos, replacing what they had; one transaction."""
        if not entries:
            return
        with self._sessions.begin() as session:
            ids = [entry.image_id for entry in entries]
            self._delete(session, ids)
            session.execute(
                insert(PhotoText),
                [
                    {
                        "image_id": entry.image_id,
                        "content_hash": entry.content_hash,
                        "state": entry.state,
                        "text": entry.text,
                        "confidence": entry.confidence,
                        "reader_key": entry.reader_key,
                        "detail": entry.detail,
                    }
                    for entry in entries
                ],
            )
            write_meta(session, MetaKey.TEXTS_CHANGES, int(read_meta(session, MetaKey.TEXTS_CHANGES) or 0) + 1)
            worded = [{"id": entry.image_id, "words": entry.words} for entry in entries if entry.words]
            if worded:
                session.execute(text(f"INSERT INTO {TEXT_SEARCH_TABLE} (rowid, words) VALUES (:id, :words)"), worded)

    def forget(self, image_ids: Sequence[int]) -> None:
        """Drop the text of photos deleted or no longer indexed."""
        if image_ids:
            with self._sessions.begin() as session:
                self._delete(session, image_ids)

    @staticmethod
    def _delete(session: Session, image_ids: Sequence[int]) -> None:
        for chunk in _chunks(image_ids):
            session.execute(delete(PhotoText).where(PhotoText.image_id.in_(chunk)))
            session.execute(
                text(f"DELETE FROM {TEXT_SEARCH_TABLE} WHERE rowid IN ({', '.join(str(int(i)) for i in chunk)})")
            )

    # --- what searches read ----------------------------------------------------------------------

    def matching(self, expression: str, limit: int) -> list[tuple[int, float]]:
        """(id, relevance) of the indexed photos whose words match an FTS5 expression (search/ocr/
        words.py fts_expression), best first; relevance is FTS5's bm25 turned positive (higher is better)."""
        statement = text(
            f"SELECT w.rowid, -bm25({TEXT_SEARCH_TABLE}) FROM {TEXT_SEARCH_TABLE} AS w "
            f"JOIN images ON images.id = w.rowid AND images.state = :indexed "
            f"WHERE {TEXT_SEARCH_TABLE} MATCH :expression ORDER BY bm25({TEXT_SEARCH_TABLE}), w.rowid LIMIT :limit"
        )
        with self.engine.connect() as connection:
            rows = connection.execute(
                statement, {"expression": expression, "limit": limit, "indexed": RowState.INDEXED.value}
            )
            return [(int(row_id), float(score)) for row_id, score in rows]

    def texts_of(self, image_ids: Sequence[int]) -> dict[int, str]:
        """id -> recognised text, for those of the ids that were read and hold some."""
        found: dict[int, str] = {}
        with self._sessions() as session:
            for chunk in _chunks(image_ids):
                for image_id, recognised in session.execute(
                    select(PhotoText.image_id, PhotoText.text).where(
                        PhotoText.image_id.in_(chunk), PhotoText.state == TextState.READ, PhotoText.text != ""
                    )
                ):
                    found[image_id] = recognised
        return found

    def counts(self) -> TextCounts:
        """What the OCR stage did with the indexed photos, by state."""
        joined = select(PhotoText.state, PhotoText.text).join(
            ImageRow, and_(ImageRow.id == PhotoText.image_id, _INDEXED, ImageRow.content_hash == PhotoText.content_hash)
        )
        by_state: dict[str, int] = {}
        with_words = 0
        with self._sessions() as session:
            subquery = joined.subquery()
            for state, count, worded in session.execute(
                select(
                    subquery.c.state,
                    func.count(),
                    func.sum(func.iif(func.coalesce(subquery.c.text, "") != "", 1, 0)),
                ).group_by(subquery.c.state)
            ):
                by_state[state] = count
                if state == TextState.READ:
                    with_words = int(worded or 0)
        return TextCounts(
            by_state.get(TextState.READ, 0),
            with_words,
            by_state.get(TextState.SKIPPED, 0),
            by_state.get(TextState.FAILED, 0),
        )
