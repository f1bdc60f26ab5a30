"""`python -m indexer backup DEST`: a consistent copy of index.sqlite, the one file that holds
everything (rows, metadata, vectors; the FAISS file is rebuilt from it), while a build may run.
`backup --restore SRC`: such a copy put back in place as an index folder, its FAISS cache made."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from ..commands import indexer_command
from ..errors import IndexStoreError, StoreProblem
from ..i18n import _
from .health import index_folder_error
from .index_store import IndexStore
from .lock import writer_lock
from .schema import DATABASE_FILE, SCHEMA_VERSION, Meta, MetaKey
from .thumbnails import THUMBNAIL_DIR
from .vectors import load_vectors, remove_stale_files, save_vectors

SIDE_FILES = ("-wal", "-shm", "-journal")  # SQLite's files beside index.sqlite


def backup_index(folder: Path, destination: str | os.PathLike[str]) -> Path:
    """Copy folder/index.sqlite to `destination` (a file, or a folder to put index.sqlite in).

    The copy opens as an index by itself: put it in an empty folder as index.sqlite and search it
    (the FAISS file is rebuilt from it on open).
    """
    as_typed = os.fspath(destination)
    destination = Path(as_typed).expanduser()
    if destination.is_dir() or as_typed.endswith(os.sep):  # a trailing slash: a folder, made if need be
        destination = destination / DATABASE_FILE
    _refuse_the_index_itself(Path(folder), destination)
    store = IndexStore(folder, migrate=False)  # a copy of what is there, not of an upgrade
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)  # a file in the way or no permission: said below
        store.backup_to(destination)
    except (OSError, sqlite3.Error) as exc:
        raise IndexStoreError(
            _(
                "Could not write the backup {destination}: {exc}. Nothing in the index was changed; choose "
                "a DEST in a folder you can write."
            ).format(destination=destination, exc=exc),
            StoreProblem.BACKUP_FAILED,
        ) from None
    finally:
        store.close()
    return destination


def _refuse_the_index_itself(folder: Path, destination: Path) -> None:
    """A copy written over index.sqlite, or over the WAL or shared-memory file beside it, would
    destroy what it copies (a replaced WAL loses the commits it holds)."""
    database = (folder / DATABASE_FILE).resolve()
    target = destination.resolve()
    own = {database} | {database.with_name(database.name + suffix) for suffix in SIDE_FILES}
    if target in own or (target.exists() and database.exists() and os.path.samefile(target, database)):
        raise IndexStoreError(
            _(
                "{destination} is the index's own {name}; a backup must go elsewhere, e.g. {value} backup "
                "~/index-backup.sqlite --index {folder}"
            ).format(destination=destination, name=target.name, value=indexer_command(), folder=folder),
            StoreProblem.BACKUP_FAILED,
        )


@dataclass(frozen=True)
class Restored:
    """What `restore_index` put in place."""

    database: Path  # folder/index.sqlite
    images: int  # indexed photos it holds
    vector_file: str | None  # the FAISS cache made from it (None: no build had recorded a model)


def restore_index(source: str | os.PathLike[str], folder: Path, *, force: bool = False) -> Restored:
    """Put the backup `source` (a file, or a folder holding index.sqlite) in place as
    folder/index.sqlite, and make its FAISS cache from it, so that the folder is an index ready to
    search and verify.

    An index already in `folder` is replaced only with `force` (then its FAISS files, SQLite's side
    files and its thumbnails go too: they belong to the database replaced). The backup is copied
    into the folder and checked before anything there is touched, under the writer lock (no build
    or verify meanwhile); a source that is not an index changes nothing.
    """
    source = Path(source).expanduser()
    if source.is_dir():
        source = source / DATABASE_FILE
    folder = Path(folder).expanduser()
    target = folder / DATABASE_FILE
    if not source.is_file():
        raise IndexStoreError(
            _("No backup at {source}; name the file `{value} backup DEST` wrote.").format(
                source=source, value=indexer_command()
            ),
            StoreProblem.BACKUP_FAILED,
        )
    if target.exists() and os.path.samefile(source, target):
        raise IndexStoreError(
            _("{source} is the index's own {DATABASE_FILE}: nothing to restore.").format(
                source=source, DATABASE_FILE=DATABASE_FILE
            ),
            StoreProblem.BACKUP_FAILED,
        )
    _refuse_an_index_unless_forced(target, force)
    try:
        with writer_lock(folder, doing="restore"):  # makes the folder; a build there would write the old file
            _refuse_an_index_unless_forced(target, force)  # one may have been built meanwhile
            _put_in_place(source, folder, target)
            return _made_ready(folder, target)
    except OSError as exc:  # --index under a file, a read-only folder: said as every command says it
        raise index_folder_error(folder, exc) from None


def _put_in_place(source: Path, folder: Path, target: Path) -> None:
    """The backup copied into the folder and checked, then the old database's files replaced by it."""
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".restoring-"))
    try:
        _copy_checked(source, staging / DATABASE_FILE, folder)
        for suffix in SIDE_FILES:  # an old WAL beside the restored file would be replayed into it
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        remove_stale_files(folder, keep=None)  # caches of the database replaced
        shutil.rmtree(folder / THUMBNAIL_DIR, ignore_errors=True)  # keyed by row ids of the old one
        os.replace(staging / DATABASE_FILE, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _refuse_an_index_unless_forced(target: Path, force: bool) -> None:
    if target.exists() and not force:
        raise IndexStoreError(
            _(
                "{target} already holds an index; restoring would replace it. Restore into an empty folder "
                "(--index DIR), or add --force to replace it (keep a copy first: {value} backup "
                "~/index-before-restore.sqlite --index {parent})."
            ).format(target=target, value=indexer_command(), parent=target.parent),
            StoreProblem.BACKUP_FAILED,
        )


def _copy_checked(source: Path, copy: Path, folder: Path) -> None:
    """`source` copied whole with SQLite's backup (a copy of a live index, WAL and all, is whole
    too) as a single self-contained file, and checked to be an index."""
    try:
        with (
            closing(sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)) as original,
            closing(sqlite3.connect(copy)) as target,
        ):
            original.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")
            findings = [row[0] for row in target.execute("PRAGMA quick_check")]
            tables = {row[0] for row in target.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = _schema_version(target) if Meta.__tablename__ in tables else None
    except sqlite3.Error as exc:
        raise IndexStoreError(
            _("{source} is not a backup of an index ({exc}); nothing in {folder} was changed.").format(
                source=source, exc=exc, folder=folder
            ),
            StoreProblem.BACKUP_FAILED,
        ) from None
    except OSError as exc:
        raise IndexStoreError(
            _("Could not copy {source} into {folder}: {exc}. Nothing there was changed.").format(
                source=source, folder=folder, exc=exc
            ),
            StoreProblem.BACKUP_FAILED,
        ) from None
    if Meta.__tablename__ not in tables:
        raise IndexStoreError(
            _(
                "{source} is an SQLite file but not a backup of an index (it has no {tablename__} table); "
                "nothing in {folder} was changed."
            ).format(source=source, tablename__=Meta.__tablename__, folder=folder),
            StoreProblem.BACKUP_FAILED,
        )
    if version is not None and version > SCHEMA_VERSION:  # checked here: opening it would replace the index first
        raise IndexStoreError(
            _(
                "{source} was written by a newer version of this program (schema {version}, this one reads "
                "up to {SCHEMA_VERSION}); update it to restore this backup. Nothing in {folder} was "
                "changed."
            ).format(source=source, version=version, SCHEMA_VERSION=SCHEMA_VERSION, folder=folder),
            StoreProblem.NEWER_SCHEMA,
        )
    if findings != ["ok"]:
        raise IndexStoreError(
            _(
                "{source} is damaged (integrity check: {join}); nothing in {folder} was changed. Restore "
                "an older backup."
            ).format(source=source, join="; ".join(findings[:3]), folder=folder),
            StoreProblem.BACKUP_FAILED,
        )


def _schema_version(database: sqlite3.Connection) -> int | None:
    row = database.execute(
        f"SELECT value FROM {Meta.__tablename__} WHERE key = ?", (MetaKey.SCHEMA_VERSION.value,)
    ).fetchone()
    return None if row is None else int(row[0])


def _made_ready(folder: Path, target: Path) -> Restored:
    """Open the restored file as an index (an older schema is upgraded, as on any open) and write
    its FAISS cache from it, so that the first search reads a file instead of making one."""
    store = IndexStore(folder)
    try:
        model = store.model_record()
        if model is None:
            return Restored(target, store.count_indexed(), None)
        vectors = load_vectors(folder, store, model.embed_dim)  # the cache is not there: made from SQLite
        return Restored(target, vectors.ntotal, save_vectors(folder, store, vectors))
    finally:
        store.close()
