"""IndexStore: every read and write of index.sqlite, each named for what it does.

Callers (the query API, the indexer, stats, verify) never write SQL: they ask for `known_rows`,
`write_batch`, `summary`, `hit_rows`... Each write method is one transaction. Those that change
images (write_batch, add_new_images, move_and_delete) advance the change counter, so a reader that
sees the counter unchanged knows no image changed; the others record facts about the index (its
model, its FAISS file, the end of a build).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy import bindparam, delete, func, insert, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased, sessionmaker

from ..errors import RETRIED_PROBLEMS, IndexStoreError, StoreProblem
from ..i18n import _
from ..images.facts import FACT_NAMES, PhotoFacts
from .database import create_database_engine
from .health import damaged_message
from .labels import LabelStore
from .layout import BUSY_TIMEOUT_MS, IndexKind
from .meta import read_meta as _get
from .meta import write_meta as _set
from .migrations import upgrade
from .photo_groups import (
    holds_raw_files,
    indexed_of,
    is_raw,
    picture_of_twin,
    raw_twins_of,
    settle_copies,
    settle_raw_twins,
)
from .records import (
    FailedImage,
    Failure,
    FileFacts,
    HitRow,
    IndexedImage,
    IndexStats,
    KnownRow,
    ModelRecord,
    VectorFileRecord,
    path_key,
    problem_of,
)
from .schema import DATABASE_FILE, Base, ImageRow, Meta, MetaKey, Removed, Root, RowState
from .texts import TextStore

REPLAY_CHUNK_ROWS = 50_000  # rows read at a time when the FAISS cache catches up
DELETE_CHUNK_ROWS = 500  # SQLite caps the number of bound parameters in one statement

# The reads every search makes, prebuilt for a plain connection: an ORM Session costs ~1 ms of
# Python per use, these ~0.1-0.25 ms (a query's whole budget is ~30 ms).
_CHANGE_COUNTER = select(Meta.value).where(Meta.key == MetaKey.CHANGE_COUNTER.value)
_READABLE = ImageRow.state.in_((RowState.INDEXED.value, RowState.COPY.value, RowState.TWIN.value))
_COPY = aliased(ImageRow)
_COPY_PATHS = (
    select(ImageRow.id, _COPY.path)
    .join(_COPY, _COPY.content_hash == ImageRow.content_hash)
    .where(ImageRow.id.in_(bindparam("ids", expanding=True)), _COPY.state == RowState.COPY.value)
    .order_by(_COPY.id)
)
# A photo's facts and what a hit shows are read from, and written to, the columns of their fields' names.
_HIT_COLUMNS = tuple(field.name for field in fields(HitRow))
_HIT_ROWS = select(*(getattr(ImageRow, name) for name in _HIT_COLUMNS)).where(
    ImageRow.id.in_(bindparam("ids", expanding=True)), ImageRow.state == RowState.INDEXED.value
)


def _next_change(session: Session) -> int:
    """Advance and return the change counter, inside the caller's transaction."""
    value = int(_get(session, MetaKey.CHANGE_COUNTER) or 0) + 1
    _set(session, MetaKey.CHANGE_COUNTER, value)
    return value


def _fact_values(facts: PhotoFacts | None) -> dict[str, object]:
    """The fact columns (one per PhotoFacts field, of its name); all None for a failed row."""
    return {name: None if facts is None else getattr(facts, name) for name in FACT_NAMES}


def _row_values(result: IndexedImage | FailedImage) -> dict[str, object]:
    """The columns a result sets, whether its row is new or updated."""
    if isinstance(result, IndexedImage):
        return {
            "state": RowState.INDEXED.value,
            "reason": None,
            "detail": None,
            **_fact_values(result.facts),
            "vector": np.ascontiguousarray(result.vector, dtype=np.float32).tobytes(),
        }
    # A photo that was indexed and now fails keeps nothing of what it was.
    return {
        "state": RowState.FAILED.value,
        "reason": result.reason.value,
        "detail": result.detail,
        **_fact_values(None),
        "vector": None,
    }


def _twins_possible(session: Session, keys: Sequence[bytes]) -> bool:
    """Whether a RAW twin can be among these files: not while neither the index nor they hold a
    camera RAW, which spares the usual collection a name lookup per file. Recorded in the metadata
    once found out (a scan of the paths, once per index)."""
    if any(is_raw(key) for key in keys):
        _set(session, MetaKey.HOLDS_RAW, 1)
        return True
    known = _get(session, MetaKey.HOLDS_RAW)
    if known is None:
        known = "1" if holds_raw_files(session) else "0"
        _set(session, MetaKey.HOLDS_RAW, known)
    return known == "1"


def _start_of(day: date) -> datetime:
    return day if isinstance(day, datetime) else datetime(day.year, day.month, day.day)


class IndexStore:
    """index.sqlite of one index folder. Thread-safe: each call takes its own connection."""

    def __init__(self, folder: str | os.PathLike[str], *, create: bool = False, migrate: bool = True):
        """Open folder/index.sqlite (`create`: make it if absent). An older schema is upgraded in
        place unless `migrate` is false (a backup copies the file as it is)."""
        self.folder = Path(folder)
        self.path = self.folder / DATABASE_FILE
        self.engine: Engine = create_database_engine(self.folder, create=create)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        try:
            with self._sessions.begin() as session:
                if create:
                    Base.metadata.create_all(session.connection())
                elif not self.engine.dialect.has_table(session.connection(), Meta.__tablename__):
                    raise IndexStoreError(
                        damaged_message(self.path, _("it holds no index tables")), StoreProblem.DAMAGED
                    )
                if migrate:
                    upgrade(session, self.folder)
        except BaseException:
            # The caller gets no store to close (Ctrl-C while the tables are made, a damaged file):
            # let go of the connection here, or its lock outlives the error in this process.
            self.engine.dispose()
            raise
        self.labels = LabelStore(self.engine, self._sessions)  # tags and categories (labels.py)
        self.texts = TextStore(self.engine, self._sessions)  # text in photos (texts.py)

    def close(self) -> None:
        self.engine.dispose()

    # --- the model -------------------------------------------------------------------------------

    def _meta(self) -> dict[str, str]:
        """The whole metadata table, key -> value (a dozen rows)."""
        with self._sessions() as session:
            return {row.key: row.value for row in session.scalars(select(Meta))}

    def model_record(self) -> ModelRecord | None:
        """The model that built the index; None until a first build has recorded one."""
        return ModelRecord.from_meta(self._meta())

    def record_model(self, model: ModelRecord) -> None:
        with self._sessions.begin() as session:
            _set(session, MetaKey.MODEL_NAME, model.name)
            _set(session, MetaKey.MODEL_FINGERPRINT, model.fingerprint)
            _set(session, MetaKey.EMBED_DIM, model.embed_dim)

    def weights_stat(self) -> str | None:
        """path|size|mtime of the weights file last hashed for this index (see record_weights_stat)."""
        with self._sessions() as session:
            return _get(session, MetaKey.MODEL_WEIGHTS_STAT)

    def record_weights_stat(self, stat_key: str) -> None:
        with self._sessions.begin() as session:
            _set(session, MetaKey.MODEL_WEIGHTS_STAT, stat_key)

    # --- the change counter and the FAISS file's record -------------------------------------------

    def change_counter(self) -> int:
        """Grows with every committed change; read on every search, so kept cheap."""
        with self.engine.connect() as connection:
            return int(connection.execute(_CHANGE_COUNTER).scalar() or 0)

    def fresh_change_counter(self) -> int:
        """The change counter read on a new connection of its own (~0.5 ms): what a commit made
        anywhere is seen, whatever the pooled connections hold."""
        with closing(sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000)) as connection:
            row = connection.execute("SELECT value FROM meta WHERE key = ?", (MetaKey.CHANGE_COUNTER.value,)).fetchone()
        return int(row[0]) if row else 0

    def release_connections(self) -> None:
        """Close the pooled connections (those in use close when given back)."""
        self.engine.dispose()

    def vector_file_record(self) -> VectorFileRecord | None:
        return VectorFileRecord.from_meta(self._meta())

    def vector_file_is_current(self) -> bool:
        """Whether the recorded FAISS file holds every committed change and is, by its size and
        mtime, the file that was written (as Catalog.vector_file_is_current)."""
        meta = self._meta()
        record = VectorFileRecord.from_meta(meta)
        return record is not None and record.is_current(int(meta.get(MetaKey.CHANGE_COUNTER, 0)), self.folder)

    def record_vector_file(self, record: VectorFileRecord, index_kind: IndexKind) -> None:
        """The FAISS file just written (and fsynced) is now the one to read."""
        with self._sessions.begin() as session:
            for key, value in (
                (MetaKey.VECTOR_FILE, record.name),
                (MetaKey.VECTOR_FILE_SEQ, record.seq),
                (MetaKey.VECTOR_FILE_BYTES, record.size_bytes),
                (MetaKey.VECTOR_FILE_SHA256, record.sha256),
                (MetaKey.VECTOR_FILE_COUNT, record.count),
                (MetaKey.VECTOR_FILE_MTIME, record.mtime_ns),
            ):
                if value is None:
                    session.execute(delete(Meta).where(Meta.key == key.value))
                else:
                    _set(session, key, value)
            _set(session, MetaKey.INDEX_KIND, index_kind.name)

    def index_kind(self) -> IndexKind | None:
        """The kind of the FAISS file last written (None before the first)."""
        with self._sessions() as session:
            name = _get(session, MetaKey.INDEX_KIND)
        return None if name is None else IndexKind.parse(name)

    def record_build_finished(self, when: datetime | None = None) -> None:
        moment = when or datetime.now(UTC)
        with self._sessions.begin() as session:
            _set(session, MetaKey.LAST_BUILD_FINISHED, moment.isoformat(timespec="seconds"))

    # --- what the planner reads, what the writer writes -------------------------------------------

    def known_root_id(self, root: Path) -> int | None:
        """The id of a photo folder the index was built from (None: never)."""
        with self._sessions() as session:
            return session.scalar(select(Root.id).where(Root.path == str(root)))

    def add_root(self, root: Path) -> int:
        """The id of a photo folder, recorded on first use."""
        with self._sessions.begin() as session:
            row = session.scalar(select(Root).where(Root.path == str(root)))
            if row is None:
                row = Root(path=str(root))
                session.add(row)
                session.flush()
            return row.id

    def known_rows(self, root_id: int) -> dict[bytes, KnownRow]:
        """Every file the index knows under a photo folder, by path."""
        with self._sessions() as session:
            rows = session.execute(
                select(
                    ImageRow.id,
                    ImageRow.path,
                    ImageRow.size,
                    ImageRow.mtime_ns,
                    ImageRow.state != RowState.FAILED.value,
                    ImageRow.content_hash,
                    (ImageRow.state == RowState.FAILED.value) & ImageRow.reason.in_(sorted(RETRIED_PROBLEMS)),
                    (ImageRow.state == RowState.INDEXED.value) & ImageRow.picture_print.is_(None),
                ).where(ImageRow.root_id == root_id)
            ).all()
        return {row[1]: KnownRow._make(row) for row in rows}

    def move_and_delete(self, moved: Sequence[tuple[FileFacts, int]], vanished: Sequence[int]) -> None:
        """Give rows their files' new paths (renames, moves) and delete the rows of vanished files."""
        if not moved and not vanished:
            return
        with self._sessions.begin() as session:
            moved_ids = [row_id for _, row_id in moved]
            named: list[bytes] = [path_key(found.path) for found, _ in moved]  # twins may part or join
            for start in range(0, len(moved_ids), DELETE_CHUNK_ROWS):
                chunk = moved_ids[start : start + DELETE_CHUNK_ROWS]
                named += session.scalars(select(ImageRow.path).where(ImageRow.id.in_(chunk)))  # where they were
            if any(is_raw(key) for key in named[: len(moved)]):
                _set(session, MetaKey.HOLDS_RAW, 1)
            for found, row_id in moved:
                session.execute(
                    update(ImageRow)
                    .where(ImageRow.id == row_id)
                    .values(
                        path=path_key(found.path), size=found.size, mtime_ns=found.mtime_ns, seq=_next_change(session)
                    )
                )
            if vanished:
                seq = _next_change(session)
                orphaned: set[str | None] = set()  # contents whose indexed row may go: a copy takes over
                for start in range(0, len(vanished), DELETE_CHUNK_ROWS):
                    chunk = list(vanished[start : start + DELETE_CHUNK_ROWS])
                    for path, digest, state in session.execute(
                        select(ImageRow.path, ImageRow.content_hash, ImageRow.state).where(ImageRow.id.in_(chunk))
                    ):
                        named.append(path)  # a RAW whose picture goes is a photo again
                        if state == RowState.INDEXED.value:
                            orphaned.add(digest)
                    session.execute(delete(ImageRow).where(ImageRow.id.in_(chunk)))
                    session.add_all(Removed(id=row_id, seq=seq) for row_id in chunk)  # ids are never reused
                orphaned |= settle_raw_twins(session, named, seq)
                settle_copies(session, orphaned, seq)
            elif named:
                settle_raw_twins(session, named, _next_change(session))  # a move can part or join twins

    def write_batch(self, root_id: int, results: Sequence[IndexedImage | FailedImage]) -> int:
        """Upsert one row per result, in one transaction; returns the change counter it was written at.
        A file with the same content as a row already there is written as its copy (see RowState)."""
        with self._sessions.begin() as session:
            seq = _next_change(session)
            keys = [path_key(result.file.path) for result in results]
            existing = {row.path: row for row in session.scalars(select(ImageRow).where(ImageRow.path.in_(keys)))}
            touched = {row.content_hash for row in existing.values()}  # a changed file may leave copies behind
            new_rows = []
            for result, key in zip(results, keys, strict=True):
                values = _row_values(result)
                values.update(size=result.file.size, mtime_ns=result.file.mtime_ns, seq=seq)
                row = existing.get(key)
                if row is None:  # the usual case: inserted in one statement below, not one ORM object each
                    new_rows.append({"path": key, "root_id": root_id, **values})
                else:
                    for column, value in values.items():
                        setattr(row, column, value)
                touched.add(values["content_hash"])
            if new_rows:
                session.execute(insert(ImageRow), new_rows)
            session.flush()
            if _twins_possible(session, keys):
                touched |= settle_raw_twins(session, keys, seq)
            settle_copies(session, touched, seq)
            return seq

    def add_new_images(self, root_id: int, images: Sequence[IndexedImage]) -> int:
        """Insert rows for files the index has never seen, in one statement (no upsert: a path it
        already holds is an error). For bulk loads: synthetic benchmark indexes, imports."""
        with self._sessions.begin() as session:
            seq = _next_change(session)
            session.execute(
                insert(ImageRow),
                [
                    {
                        "root_id": root_id,
                        "path": path_key(image.file.path),
                        "size": image.file.size,
                        "mtime_ns": image.file.mtime_ns,
                        **_row_values(image),
                        "seq": seq,
                    }
                    for image in images
                ],
            )
            keys = [path_key(image.file.path) for image in images]
            hashes = settle_raw_twins(session, keys, seq) if _twins_possible(session, keys) else set()
            settle_copies(session, hashes | {image.facts.content_hash for image in images}, seq)
            return seq

    # --- vectors, for the FAISS cache -------------------------------------------------------------

    def indexed_vectors(self) -> tuple[int, npt.NDArray[np.int64], npt.NDArray[np.float32] | None]:
        """(change counter, ids, vectors (n, dim)) of every indexed row, read in one snapshot."""
        with self._sessions() as session:
            seq = int(_get(session, MetaKey.CHANGE_COUNTER) or 0)
            ids, blobs = [], []
            for row_id, blob in session.execute(
                select(ImageRow.id, ImageRow.vector)
                .where(ImageRow.state == RowState.INDEXED.value)
                .order_by(ImageRow.id)
            ):
                ids.append(row_id)
                blobs.append(blob)
        vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), -1) if ids else None
        return seq, np.array(ids, dtype=np.int64), vectors

    def set_prints(self, prints: dict[int, bytes]) -> None:
        """Record the pictures' prints of indexed rows (their vectors and facts unchanged), as one
        change: the near-duplicate groups are computed again, the FAISS file has nothing to replay."""
        if not prints:
            return
        with self._sessions.begin() as session:
            _next_change(session)
            session.execute(update(ImageRow), [{"id": i, "picture_print": value} for i, value in prints.items()])

    def picture_prints(self) -> dict[int, bytes]:
        """id -> the picture's print, for the indexed rows that have one (near-duplicate groups)."""
        with self._sessions() as session:
            statement = select(ImageRow.id, ImageRow.picture_print).where(
                ImageRow.state == RowState.INDEXED.value, ImageRow.picture_print.is_not(None)
            )
            return {row_id: value for row_id, value in session.execute(statement)}

    @contextmanager
    def changes_since(
        self, seq: int
    ) -> Iterator[tuple[int, npt.NDArray[np.int64], Iterator[list[tuple[int, bytes | None, str]]]]]:
        """What changed after change counter `seq`: (the counter now, the ids deleted, chunks of
        rows (id, vector or None, state) changed up to that counter), on one connection held until
        the block ends. The reads are not one snapshot (the driver begins no transaction for reads):
        a deletion committed meanwhile is seen now or at the next catch-up, and since replay is an
        idempotent upsert, either way the cache converges on SQLite."""
        with self._sessions() as session:
            target = int(_get(session, MetaKey.CHANGE_COUNTER) or 0)
            removed = np.array(session.scalars(select(Removed.id).where(Removed.seq > seq)).all(), dtype=np.int64)

            def chunks() -> Iterator[list[tuple[int, bytes | None, str]]]:
                last_id = 0
                while True:
                    rows = session.execute(
                        select(ImageRow.id, ImageRow.vector, ImageRow.state)
                        .where(ImageRow.seq > seq, ImageRow.seq <= target, ImageRow.id > last_id)
                        .order_by(ImageRow.id)
                        .limit(REPLAY_CHUNK_ROWS)
                    ).all()
                    if not rows:
                        return
                    yield [tuple(row) for row in rows]
                    last_id = rows[-1][0]

            yield target, removed, chunks()

    def indexed_rows_with_vectors(self) -> Iterator[tuple[int, bytes | None, str]]:
        """(id, vector, path) of every indexed row: what verify compares with the FAISS file."""
        with self._sessions() as session:
            for row_id, blob, path in session.execute(
                select(ImageRow.id, ImageRow.vector, ImageRow.path).where(ImageRow.state == RowState.INDEXED.value)
            ):
                yield row_id, blob, os.fsdecode(path)

    # --- what searches read ----------------------------------------------------------------------

    def labels_are_current(self, key: str) -> bool:
        """Whether every indexed photo has its tags and categories, made with this labels key."""
        recorded, seq = self.labels.labelled_up_to()
        return recorded == key and seq == self.change_counter()

    def texts_are_current(self, key: str) -> bool:
        """Whether every indexed photo the key's OCR mode asks for has been read with its engine."""
        recorded, seq = self.texts.read_up_to()
        return recorded == key and seq == self.change_counter()

    def count_indexed(self) -> int:
        with self._sessions() as session:
            return (
                session.scalar(
                    select(func.count()).select_from(ImageRow).where(ImageRow.state == RowState.INDEXED.value)
                )
                or 0
            )

    def vector_of(self, image_id: int) -> npt.NDArray[np.float32] | None:
        """The stored unit vector of an indexed image or a copy (None if the id is neither)."""
        with self._sessions() as session:
            blob = session.scalar(select(ImageRow.vector).where(ImageRow.id == image_id, _READABLE))
        return None if blob is None else np.frombuffer(blob, dtype=np.float32).copy()

    def vectors_by_hash(self, hashes: Sequence[str]) -> dict[str, npt.NDArray[np.float32]]:
        """The vectors of contents the index already holds: a file identical to one of them need not
        be encoded again."""
        found: dict[str, npt.NDArray[np.float32]] = {}
        unique = sorted(set(hashes))
        with self._sessions() as session:
            for start in range(0, len(unique), DELETE_CHUNK_ROWS):
                chunk = unique[start : start + DELETE_CHUNK_ROWS]
                for digest, state, blob in session.execute(
                    select(ImageRow.content_hash, ImageRow.state, ImageRow.vector).where(
                        ImageRow.content_hash.in_(chunk)  # the state is checked here (photo_groups.BY_HASH_ONLY)
                    )
                ):
                    if state == RowState.INDEXED.value:
                        found[digest] = np.frombuffer(blob, dtype=np.float32).copy()
        return found

    def id_of(self, path: str | os.PathLike[str]) -> int | None:
        """The indexed image at `path`; for an identical copy, the indexed image it is a copy of."""
        key = path_key(os.path.abspath(path))
        with self._sessions() as session:
            row = session.execute(
                select(ImageRow.id, ImageRow.state, ImageRow.content_hash).where(ImageRow.path == key, _READABLE)
            ).first()
            if row is None or row.state == RowState.INDEXED.value:
                return None if row is None else row.id
            if row.state == RowState.TWIN.value:
                return picture_of_twin(session, key)
            return indexed_of(session, row.content_hash)

    def ids_matching(
        self, folder: str | os.PathLike[str] | None, date_from: date | None, date_to: date | None
    ) -> npt.NDArray[np.int64]:
        """Ids of indexed images under `folder`, taken between the dates (inclusive)."""
        statement = select(ImageRow.id).where(ImageRow.state == RowState.INDEXED.value)
        if folder is not None:
            prefix = path_key(os.path.join(os.path.abspath(os.path.expanduser(folder)), ""))
            under_folder = func.substr(ImageRow.path, 1, len(prefix)) == prefix
            # A photo is in the folder when it or one of its identical copies is.
            copies_there = select(ImageRow.content_hash).where(ImageRow.state == RowState.COPY.value, under_folder)
            statement = statement.where(under_folder | ImageRow.content_hash.in_(copies_there))
        if date_from is not None:
            statement = statement.where(ImageRow.taken_at >= _start_of(date_from))
        if date_to is not None:  # inclusive: the whole last day
            statement = statement.where(ImageRow.taken_at < _start_of(date_to) + timedelta(days=1))
        with self._sessions() as session:
            return np.array(session.scalars(statement).all(), dtype=np.int64)

    def hit_rows(self, ids: list[int]) -> dict[int, HitRow]:
        """id -> what a hit shows, for those ids that are indexed."""
        with self.engine.connect() as connection:
            return {
                row.id: HitRow(**{**row._asdict(), "path": os.fsdecode(row.path)})
                for row in connection.execute(_HIT_ROWS, {"ids": ids})
            }

    def copies_of(self, ids: list[int]) -> dict[int, list[str]]:
        """Indexed id -> the paths of its identical copies (only ids that have copies), oldest first."""
        if not ids:
            return {}
        with self.engine.connect() as connection:
            found: dict[int, list[str]] = {}
            for row_id, path in connection.execute(_COPY_PATHS, {"ids": ids}):
                found.setdefault(row_id, []).append(os.fsdecode(path))
            return found

    def raw_twins_of(self, paths: list[str]) -> dict[str, list[str]]:
        """Path of a shown picture -> the camera RAW files beside it with its name (see photo_groups)."""
        with self.engine.connect() as connection:
            twins = raw_twins_of(connection, [path_key(path) for path in paths])
        return {os.fsdecode(path): [os.fsdecode(twin) for twin in found] for path, found in twins.items()}

    def failures(self, limit: int = 200) -> list[Failure]:
        """Files that could not be indexed, with the reason; the most recent first."""
        with self._sessions() as session:
            rows = session.scalars(
                select(ImageRow)
                .where(ImageRow.state == RowState.FAILED.value)
                .order_by(ImageRow.seq.desc())
                .limit(limit)
            )
            return [Failure(row.file_path, problem_of(row.reason), str(row.detail or row.reason)) for row in rows]

    def summary_key(self) -> tuple[int, str | None, str | None]:
        """Changes whenever summary() would: the change counter, the last build's end, the texts' changes."""
        with self._sessions() as session:
            return (
                int(_get(session, MetaKey.CHANGE_COUNTER) or 0),
                _get(session, MetaKey.LAST_BUILD_FINISHED),
                _get(session, MetaKey.TEXTS_CHANGES),
            )

    def summary(self) -> IndexStats:
        """What the index holds: counts, failures by reason, model, index type, folders, dates."""
        indexed = RowState.INDEXED.value
        with self._sessions() as session:
            seq = int(_get(session, MetaKey.CHANGE_COUNTER) or 0)
            last_build = _get(session, MetaKey.LAST_BUILD_FINISHED)
            states = dict(session.execute(select(ImageRow.state, func.count()).group_by(ImageRow.state)).all())
            reasons = session.execute(
                select(ImageRow.reason, func.count())
                .where(ImageRow.state == RowState.FAILED.value)
                .group_by(ImageRow.reason)
                .order_by(func.count().desc(), ImageRow.reason)
            ).all()
            taken_from, taken_to = session.execute(
                select(func.min(ImageRow.taken_at), func.max(ImageRow.taken_at)).where(ImageRow.state == indexed)
            ).one()
            dim = _get(session, MetaKey.EMBED_DIM)
            return IndexStats(
                images=states.get(indexed, 0),
                copies=states.get(RowState.COPY.value, 0),
                raw_twins=states.get(RowState.TWIN.value, 0),
                failed=states.get(RowState.FAILED.value, 0),
                failures={problem_of(reason): count for reason, count in reasons},
                model=str(_get(session, MetaKey.MODEL_NAME)),
                index_type=str(_get(session, MetaKey.INDEX_KIND)),
                roots=list(session.scalars(select(Root.path))),
                last_change=seq,
                taken_from=taken_from,
                taken_to=taken_to,
                last_build=datetime.fromisoformat(last_build) if last_build else None,
                embed_dim=int(dim) if dim else None,
                model_fingerprint=_get(session, MetaKey.MODEL_FINGERPRINT),
                vector_file=_get(session, MetaKey.VECTOR_FILE),
                with_text=self.texts.counts().with_words,
            )

    # --- integrity and copies ---------------------------------------------------------------------

    def integrity_problems(self) -> list[str]:
        """SQLite's own check of every page and index of the file; empty when it is sound."""
        with self.engine.connect() as connection:
            lines = [str(row[0]) for row in connection.execute(text("PRAGMA integrity_check"))]
        return [] if lines == ["ok"] else lines

    def backup_to(self, destination: Path) -> None:
        """A consistent copy of the database, made while builds and searches go on (SQLite's online
        backup: pages copied in steps, restarted if a writer changes them meanwhile)."""
        destination = Path(destination)
        temporary = destination.with_name(destination.name + ".partial")
        temporary.unlink(missing_ok=True)
        try:
            with closing(self.engine.raw_connection()) as raw, closing(sqlite3.connect(temporary)) as target:
                # All pages in one step, inside one read transaction: WAL lets the build keep writing
                # meanwhile. Copied in several steps, a backup starts over whenever another
                # connection commits, and a build commits every batch: it might never finish.
                raw.driver_connection.backup(target, pages=-1)
                target.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
            with open(temporary, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, destination)
        except BaseException:
            temporary.unlink(missing_ok=True)  # half a copy is no backup, and it may be what fills the disk
            raise
