"""Tags and categories in index.sqlite: the tag vectors of the index's model, each photo's tags and
categories with their scores, and the categories' examples and fitted weights (schema 6).

Only here is their SQL. LabelStore shares IndexStore's engine (IndexStore.labels); every write is one
transaction and raises MetaKey.LABELS_CHANGES, which readers key their cached lists by. Photos are
counted and returned only while indexed: a row deleted or turned into a copy keeps its stale
photo_tags until the next build's label stage removes them, and nobody sees them meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy import Select, delete, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from .meta import read_meta as _get
from .meta import write_meta as _set
from .schema import (
    CategoryExample,
    CategoryRow,
    ImageRow,
    MetaKey,
    PhotoCategory,
    PhotoTag,
    Removed,
    RowState,
    TagRow,
)

CHUNK = 500  # ids bound in one statement (SQLite caps bound parameters)


class TagSource:
    """Where a tag comes from (TagRow.source)."""

    VOCABULARY = "vocabulary"
    USER = "user"
    NEUTRAL = "neutral"  # the rival every group's shares are taken against; never a photo's tag


@dataclass(frozen=True)
class StoredTag:
    """A tag as stored: its vector is for the index's model."""

    id: int
    name: str
    group: str
    source: str
    phrasings: tuple[str, ...]
    vector: npt.NDArray[np.float32]


@dataclass(frozen=True)
class TagCount:
    """A tag with how many indexed photos carry it and its best-scoring photo (None: none carry it)."""

    name: str
    group: str
    source: str
    count: int
    cover_id: int | None


@dataclass(frozen=True)
class CategoryRecord:
    """A category as stored: its examples, its fitted model, how many photos are members."""

    id: int
    name: str
    text: str | None
    model_fingerprint: str
    weights: npt.NDArray[np.float32]
    bias: float
    trained_at: datetime
    positives: tuple[int, ...]
    negatives: tuple[int, ...]
    members: int
    cover_id: int | None


def _vector(blob: bytes) -> npt.NDArray[np.float32]:
    return np.frombuffer(blob, dtype=np.float32).copy()


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    ids = list(ids)
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _changed(session: Session) -> None:
    _set(session, MetaKey.LABELS_CHANGES, int(_get(session, MetaKey.LABELS_CHANGES) or 0) + 1)


_INDEXED = ImageRow.state == RowState.INDEXED.value


class LabelStore:
    """The tags and categories of one index.sqlite (see the module's docstring)."""

    def __init__(self, engine: Engine, sessions: sessionmaker[Session]):
        self.engine = engine
        self._sessions = sessions

    # --- the state of the label stage -----------------------------------------------------------

    def changes(self) -> int:
        """Grows with every change of tags or categories (with the image change counter, a cache key)."""
        with self._sessions() as session:
            return int(_get(session, MetaKey.LABELS_CHANGES) or 0)

    def labelled_up_to(self) -> tuple[str | None, int]:
        """(the labels key the photos' tags were made with, the change counter they reach)."""
        with self._sessions() as session:
            return _get(session, MetaKey.LABELS_KEY), int(_get(session, MetaKey.LABELS_SEQ) or 0)

    def record_labelled(self, key: str, seq: int) -> None:
        with self._sessions.begin() as session:
            _set(session, MetaKey.LABELS_KEY, key)
            _set(session, MetaKey.LABELS_SEQ, seq)

    def tag_scale(self) -> float | None:
        with self._sessions() as session:
            value = _get(session, MetaKey.TAG_SCALE)
        return None if value is None else float(value)

    def changed_vectors(
        self, seq: int, chunk_rows: int = 50_000
    ) -> tuple[int, Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]]:
        """(the change counter now, chunks of (ids, vectors) of the rows indexed after `seq` up to it).
        The label stage runs under the writer lock, so nothing changes between the chunks."""
        with self._sessions() as session:
            now = int(_get(session, MetaKey.CHANGE_COUNTER) or 0)

        def chunks() -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
            last_id = 0
            while True:
                with self._sessions() as session:
                    rows = session.execute(
                        select(ImageRow.id, ImageRow.vector)
                        .where(_INDEXED, ImageRow.seq > seq, ImageRow.seq <= now, ImageRow.id > last_id)
                        .order_by(ImageRow.id)
                        .limit(chunk_rows)
                    ).all()
                if not rows:
                    return
                ids = np.array([row[0] for row in rows], dtype=np.int64)
                yield ids, np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32).reshape(len(rows), -1)
                last_id = int(ids[-1])

        return now, chunks()

    def rows_left_since(self, seq: int) -> list[int]:
        """Ids deleted, or no longer indexed (failed, a copy now), after change counter `seq`."""
        with self._sessions() as session:
            removed = session.scalars(select(Removed.id).where(Removed.seq > seq)).all()
            left = session.scalars(select(ImageRow.id).where(ImageRow.seq > seq, ~_INDEXED)).all()
        return sorted(set(removed) | set(left))

    # --- tags ------------------------------------------------------------------------------------

    def tags(self, sources: Sequence[str] = (TagSource.VOCABULARY, TagSource.USER)) -> list[StoredTag]:
        """The stored tags of these sources, in the order they were stored."""
        with self._sessions() as session:
            rows = session.scalars(select(TagRow).where(TagRow.source.in_(sources)).order_by(TagRow.id)).all()
            return [
                StoredTag(row.id, row.name, row.group, row.source, tuple(row.phrasings.split("|")), _vector(row.vector))
                for row in rows
            ]

    def replace_tags(
        self, tags: Sequence[tuple[str, str, str, Sequence[str], npt.NDArray[np.float32]]], scale: float
    ) -> None:
        """Every tag anew, (name, group, source, phrasings, vector) each, and no photo's tags: what a
        new vocabulary or model starts from (the label stage then tags every photo again)."""
        with self._sessions.begin() as session:
            session.execute(delete(PhotoTag))
            session.execute(delete(TagRow))
            if tags:
                session.execute(
                    insert(TagRow),
                    [
                        {
                            "name": name,
                            "group": group,
                            "source": source,
                            "phrasings": "|".join(phrasings),
                            "vector": np.ascontiguousarray(vector, dtype=np.float32).tobytes(),
                        }
                        for name, group, source, phrasings, vector in tags
                    ],
                )
            _set(session, MetaKey.TAG_SCALE, scale)
            _changed(session)

    def add_tag(self, name: str, group: str, phrasings: Sequence[str], vector: npt.NDArray[np.float32]) -> int:
        """A user's own tag; its id."""
        with self._sessions.begin() as session:
            row = TagRow(
                name=name,
                group=group,
                source=TagSource.USER,
                phrasings="|".join(phrasings),
                vector=np.ascontiguousarray(vector, dtype=np.float32).tobytes(),
            )
            session.add(row)
            session.flush()
            _changed(session)
            return row.id

    def remove_tag(self, tag_id: int) -> None:
        with self._sessions.begin() as session:
            session.execute(delete(PhotoTag).where(PhotoTag.tag_id == tag_id))
            session.execute(delete(TagRow).where(TagRow.id == tag_id))
            _changed(session)

    def write_photo_tags(
        self, image_ids: Sequence[int], tagged: Sequence[tuple[int, int, float]], tag_ids: Sequence[int] | None = None
    ) -> None:
        """The tags of these photos anew: (image id, tag id, share) each. `tag_ids`: only those tags
        are replaced (a user tag applied to the whole collection); None: all of the photos' tags."""
        with self._sessions.begin() as session:
            for chunk in _chunks(image_ids):
                statement = delete(PhotoTag).where(PhotoTag.image_id.in_(chunk))
                if tag_ids is not None:
                    statement = statement.where(PhotoTag.tag_id.in_(list(tag_ids)))
                session.execute(statement)
            if tagged:
                session.execute(
                    insert(PhotoTag),
                    [{"image_id": i, "tag_id": t, "score": s} for i, t, s in tagged],
                )
            _changed(session)

    def forget_photos(self, image_ids: Sequence[int]) -> None:
        """No tags and no category membership for these photos (deleted, or no longer indexed)."""
        if not image_ids:
            return
        with self._sessions.begin() as session:
            for chunk in _chunks(image_ids):
                session.execute(delete(PhotoTag).where(PhotoTag.image_id.in_(chunk)))
                session.execute(delete(PhotoCategory).where(PhotoCategory.image_id.in_(chunk)))
            _changed(session)

    def tag_counts(self) -> list[TagCount]:
        """Every tag with its count of indexed photos and its best-scoring one, vocabulary order."""
        with self._sessions() as session:
            counted = (
                select(PhotoTag.tag_id, func.count().label("n"), func.max(PhotoTag.score).label("best"))
                .join(ImageRow, ImageRow.id == PhotoTag.image_id)
                .where(_INDEXED)
                .group_by(PhotoTag.tag_id)
                .subquery()
            )
            rows = session.execute(
                select(TagRow.id, TagRow.name, TagRow.group, TagRow.source, counted.c.n, counted.c.best)
                .outerjoin(counted, counted.c.tag_id == TagRow.id)
                .where(TagRow.source != TagSource.NEUTRAL)
                .order_by(TagRow.id)
            ).all()
            covers = {}
            for tag_id, _name, _group, _source, n, best in rows:
                if n:
                    covers[tag_id] = session.scalar(
                        select(PhotoTag.image_id)
                        .join(ImageRow, ImageRow.id == PhotoTag.image_id)
                        .where(_INDEXED, PhotoTag.tag_id == tag_id, PhotoTag.score >= best)
                        .order_by(PhotoTag.image_id)
                        .limit(1)
                    )
            return [
                TagCount(name, group, source, n or 0, covers.get(tag_id)) for tag_id, name, group, source, n, _ in rows
            ]

    def tags_of(self, image_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        """Photo id -> its tags' names, the strongest share first (only photos that have tags)."""
        return self._names_by_photo(
            image_ids,
            lambda chunk: (
                select(PhotoTag.image_id, TagRow.name, PhotoTag.score)
                .join(TagRow, TagRow.id == PhotoTag.tag_id)
                .where(PhotoTag.image_id.in_(chunk))
            ),
        )

    def _names_by_photo(
        self, image_ids: Sequence[int], statement: Callable[[list[int]], Select]
    ) -> dict[int, tuple[str, ...]]:
        """Photo id -> names, the highest score first, from (photo id, name, score) rows of
        `statement(chunk)` for each chunk of the ids."""
        found: dict[int, list[tuple[float, str]]] = {}
        with self._sessions() as session:
            for chunk in _chunks(image_ids):
                for image_id, name, score in session.execute(statement(chunk)):
                    found.setdefault(image_id, []).append((-score, name))
        return {i: tuple(name for _, name in sorted(pairs)) for i, pairs in found.items()}

    def tag_scores(self, tag_ids: Sequence[int]) -> dict[int, float]:
        """Indexed photo id -> its smallest share among these tags, for the photos carrying them all."""
        with self._sessions() as session:
            rows = session.execute(
                select(PhotoTag.image_id, func.min(PhotoTag.score))
                .join(ImageRow, ImageRow.id == PhotoTag.image_id)
                .where(_INDEXED, PhotoTag.tag_id.in_(list(tag_ids)))
                .group_by(PhotoTag.image_id)
                .having(func.count() == len(set(tag_ids)))
            ).all()
        return {image_id: float(score) for image_id, score in rows}

    # --- categories ------------------------------------------------------------------------------

    def categories(self) -> list[CategoryRecord]:
        """Every category, in the order they were made."""
        with self._sessions() as session:
            ids = session.scalars(select(CategoryRow.id).order_by(CategoryRow.id)).all()
            return [self._category(session, category_id) for category_id in ids]

    def category(self, name: str) -> CategoryRecord | None:
        with self._sessions() as session:
            category_id = session.scalar(select(CategoryRow.id).where(CategoryRow.name == name))
            return None if category_id is None else self._category(session, category_id)

    def _category(self, session: Session, category_id: int) -> CategoryRecord:
        row = session.get(CategoryRow, category_id)
        examples = session.execute(
            select(CategoryExample.image_id, CategoryExample.positive)
            .where(CategoryExample.category_id == category_id)
            .order_by(CategoryExample.image_id)
        ).all()
        members, best = session.execute(
            select(func.count(), func.max(PhotoCategory.score))
            .join(ImageRow, ImageRow.id == PhotoCategory.image_id)
            .where(_INDEXED, PhotoCategory.category_id == category_id)
        ).one()
        cover = None
        if members:
            cover = session.scalar(
                select(PhotoCategory.image_id)
                .join(ImageRow, ImageRow.id == PhotoCategory.image_id)
                .where(_INDEXED, PhotoCategory.category_id == category_id, PhotoCategory.score >= best)
                .order_by(PhotoCategory.image_id)
                .limit(1)
            )
        return CategoryRecord(
            row.id,
            row.name,
            row.text,
            row.model_fingerprint,
            _vector(row.weights),
            float(row.bias),
            row.trained_at.replace(tzinfo=UTC),
            tuple(i for i, positive in examples if positive),
            tuple(i for i, positive in examples if not positive),
            int(members),
            cover,
        )

    def save_category(
        self,
        name: str,
        text: str | None,
        model_fingerprint: str,
        weights: npt.NDArray[np.float32],
        bias: float,
        positives: Sequence[int],
        negatives: Sequence[int],
        members: Sequence[tuple[int, float]],
    ) -> None:
        """Make or retrain the category `name`: its examples, weights and members, all anew."""
        with self._sessions.begin() as session:
            category_id = session.scalar(select(CategoryRow.id).where(CategoryRow.name == name))
            values = {
                "text": text,
                "model_fingerprint": model_fingerprint,
                "weights": np.ascontiguousarray(weights, dtype=np.float32).tobytes(),
                "bias": float(bias),
                "trained_at": datetime.now(UTC).replace(tzinfo=None),
            }
            if category_id is None:
                row = CategoryRow(name=name, **values)
                session.add(row)
                session.flush()
                category_id = row.id
            else:
                row = session.get(CategoryRow, category_id)
                for key, value in values.items():
                    setattr(row, key, value)
                session.execute(delete(CategoryExample).where(CategoryExample.category_id == category_id))
                session.execute(delete(PhotoCategory).where(PhotoCategory.category_id == category_id))
            examples = [{"category_id": category_id, "image_id": i, "positive": True} for i in dict.fromkeys(positives)]
            examples += [
                {"category_id": category_id, "image_id": i, "positive": False} for i in dict.fromkeys(negatives)
            ]
            if examples:
                session.execute(insert(CategoryExample), examples)
            if members:
                session.execute(
                    insert(PhotoCategory), [{"category_id": category_id, "image_id": i, "score": s} for i, s in members]
                )
            _changed(session)

    def write_members(self, category_id: int, image_ids: Sequence[int], members: Sequence[tuple[int, float]]) -> None:
        """The category's membership of these photos anew (the label stage, for new photos)."""
        with self._sessions.begin() as session:
            for chunk in _chunks(image_ids):
                session.execute(
                    delete(PhotoCategory).where(
                        PhotoCategory.category_id == category_id, PhotoCategory.image_id.in_(chunk)
                    )
                )
            if members:
                session.execute(
                    insert(PhotoCategory), [{"category_id": category_id, "image_id": i, "score": s} for i, s in members]
                )
            _changed(session)

    def remove_category(self, category_id: int) -> None:
        with self._sessions.begin() as session:
            session.execute(delete(PhotoCategory).where(PhotoCategory.category_id == category_id))
            session.execute(delete(CategoryExample).where(CategoryExample.category_id == category_id))
            session.execute(delete(CategoryRow).where(CategoryRow.id == category_id))
            _changed(session)

    def member_scores(self, category_id: int) -> dict[int, float]:
        """Indexed member id -> its score."""
        with self._sessions() as session:
            rows = session.execute(
                select(PhotoCategory.image_id, PhotoCategory.score)
                .join(ImageRow, ImageRow.id == PhotoCategory.image_id)
                .where(_INDEXED, PhotoCategory.category_id == category_id)
            ).all()
        return {image_id: float(score) for image_id, score in rows}

    def categories_of(self, image_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        """Photo id -> the names of the categories it is a member of, the strongest first."""
        return self._names_by_photo(
            image_ids,
            lambda chunk: (
                select(PhotoCategory.image_id, CategoryRow.name, PhotoCategory.score)
                .join(CategoryRow, CategoryRow.id == PhotoCategory.category_id)
                .where(PhotoCategory.image_id.in_(chunk))
            ),
        )

    def indexed_vectors_of(self, image_ids: Sequence[int]) -> dict[int, npt.NDArray[np.float32]]:
        """Id -> stored vector, for those of these ids that are indexed."""
        found: dict[int, npt.NDArray[np.float32]] = {}
        with self._sessions() as session:
            for chunk in _chunks(image_ids):
                for image_id, blob in session.execute(
                    select(ImageRow.id, ImageRow.vector).where(_INDEXED, ImageRow.id.in_(chunk))
                ):
                    found[image_id] = _vector(blob)
        return found
