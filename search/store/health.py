"""Signs that index.sqlite is damaged or its disk is full, and the messages that name the file and
the way back. Standard library only: the SQLAlchemy engine (database.py) and the quick path
(catalog.py) both use it.
"""

from __future__ import annotations

import errno
import math
import mmap
import os
import sqlite3
from pathlib import Path

from ..commands import indexer_command
from ..errors import IndexStoreError, StoreProblem
from ..i18n import _
from .layout import DATABASE_FILE, connect_read_only

_SQLITE_DAMAGE_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
# Below this much free space an I/O error is the disk being full: SQLite reports a full disk as
# SQLITE_FULL only when a page write fails, and as SQLITE_IOERR_* when it cannot grow its WAL
# index (index.sqlite-shm, needed even to read) or sync a journal.
NEARLY_FULL_BYTES = 1 << 20
IMAGES_TABLE = "images"  # schema.ImageRow's table (schema.py needs SQLAlchemy; this module does not)


def damaged_message(path: Path, cause: str) -> str:
    folder = path.parent
    # The WAL beside a damaged file must go with it: SQLite would replay its pages into the copy.
    return _(
        "{path} is damaged ({cause}); nothing in it can be trusted. Restore it from a copy made by "
        "`{value} backup` (delete {name}-wal and {name}-shm beside it, then copy the backup over "
        "it), or move the folder {folder} aside and build the index again: {value} build PHOTOS "
        "--index {folder}"
    ).format(path=path, cause=cause, value=indexer_command(), name=path.name, folder=folder)


def disk_full_message(path: Path) -> str:
    return _(
        "The disk holding {path} is full. Everything committed before is intact; free some space "
        "and run the same command again to continue."
    ).format(path=path)


def not_a_folder_message(folder: Path) -> str | None:
    """The message for an --index that names a file (or a path through one), or None when it does not.
    Naming index.sqlite itself is the likely slip: the message gives the folder to use instead."""
    folder = Path(folder)
    try:
        blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    except OSError:
        return None  # a parent that cannot be searched: the caller's own access says so
    if blocking is None:
        return None
    hint = (
        _("use --index {parent}").format(parent=blocking.parent)
        if blocking.name == DATABASE_FILE
        else _("name a folder (default data/index)")
    )
    return _(
        "{blocking} is a file, not an index folder: --index takes the folder that holds {DATABASE_FILE}; {hint}."
    ).format(blocking=blocking, DATABASE_FILE=DATABASE_FILE, hint=hint)


def index_folder_error(folder: Path, error: OSError, doing: str | None = None) -> IndexStoreError:
    """The IndexStoreError for an index folder that cannot be made, read, or written (its lock file);
    `doing`: a translated text (default "created or written")."""
    if doing is None:
        doing = _("created or written")
    not_a_folder = not_a_folder_message(folder)
    if not_a_folder is not None:
        return IndexStoreError(not_a_folder + _(" Nothing was changed."), StoreProblem.NO_INDEX)
    if error.errno == errno.ENOSPC:
        return IndexStoreError(disk_full_message(Path(folder) / DATABASE_FILE), StoreProblem.DISK_FULL)
    where = error.filename or folder
    return IndexStoreError(
        _(
            "Index folder {folder} cannot be {doing} ({where}: {value}). Nothing was changed. Fix its "
            "permissions, or choose a folder you can use with --index DIR."
        ).format(folder=folder, doing=doing, where=where, value=error.strerror or error),
        StoreProblem.READ_ONLY,
    )


def disk_nearly_full(folder: Path) -> bool:
    try:
        stats = os.statvfs(folder)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < NEARLY_FULL_BYTES


def torn_file_cause(path: Path) -> str | None:
    """Why index.sqlite was evidently cut short, or None. SQLite writes whole pages and notices a
    file shorter than the page count in its header, but reads a partly cut last page as zeros
    (an index then looks empty and queries quietly return too little): that case is caught here.

    The page size is asked of SQLite, never read through a descriptor of our own: closing any
    descriptor of the file drops every POSIX lock this process holds on it, the shared lock of its
    open WAL connections included, and another process closing the index would then delete the WAL
    and its index from under them (the next read here fails with "disk I/O error"). SQLite keeps
    its own descriptors of a locked file open until the locks go."""
    try:
        size = path.stat().st_size
        connection = connect_read_only(path)
    except (OSError, sqlite3.Error):
        return None  # missing or unreadable: SQLite says which
    try:
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    except sqlite3.Error:
        return None  # not SQLite at all, or a damaged header: SQLite says which
    finally:
        connection.close()
    if not size:
        return None  # empty: being created
    # A checkpoint that grows the file is seen a memory page at a time: a whole number of those is
    # not yet a cut (with the default 4096-byte pages both units are the same).
    unit = math.gcd(page_size, mmap.PAGESIZE)
    if size % unit:
        return _("it was cut short: {size} bytes is not a whole number of its {page_size}-byte pages").format(
            size=size, page_size=page_size
        )
    return None


def translated(error: BaseException, path: Path) -> IndexStoreError | None:
    """The IndexStoreError a sqlite3 error means for the user (None: not damage, not a full disk)."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:
        return None
    primary = code & 0xFF  # extended codes keep the primary one in the low byte
    if primary in _SQLITE_DAMAGE_CODES:
        return IndexStoreError(damaged_message(path, str(error)), StoreProblem.DAMAGED)
    if primary == sqlite3.SQLITE_FULL or (primary == sqlite3.SQLITE_IOERR and disk_nearly_full(path.parent)):
        return IndexStoreError(disk_full_message(path), StoreProblem.DISK_FULL)
    if primary == sqlite3.SQLITE_CANTOPEN:  # no permission to read it or to make its -wal/-shm beside it
        return IndexStoreError(
            _(
                "{path} cannot be opened ({error}); nothing was changed. Check the permissions of it and "
                "of its folder {parent} (you need to read and write both), or copy the folder somewhere "
                "you can and use the copy."
            ).format(path=path, error=error, parent=path.parent),
            StoreProblem.READ_ONLY,
        )
    if primary == sqlite3.SQLITE_READONLY:
        return read_only_error(path, str(error))
    return None


def read_only_error(path: Path, detail: str) -> IndexStoreError:
    return IndexStoreError(
        _(
            "{path} cannot be written ({detail}): it or its folder is read-only. Check the "
            "permissions, or copy the folder {parent} somewhere writable and use the copy."
        ).format(path=path, detail=detail, parent=path.parent),
        StoreProblem.READ_ONLY,
    )


def check_writable(folder: Path) -> None:
    """Raise the read-only IndexStoreError before a build starts when its index.sqlite exists but
    cannot be written: otherwise SQLite says so only at the first batch, under the progress bar."""
    path = Path(folder) / DATABASE_FILE
    if path.exists() and not os.access(path, os.W_OK):
        raise read_only_error(path, _("no write permission"))


def database_holds_no_images(folder: Path) -> bool:
    """Whether folder/index.sqlite is absent or holds no image row (not even a failed one): nothing a
    build committed would be lost with it. False when that cannot be told (damaged, unreadable)."""
    path = Path(folder) / DATABASE_FILE
    if not path.exists():
        return True
    try:
        connection = connect_read_only(path)
    except sqlite3.Error:
        return False
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if IMAGES_TABLE not in tables:
            return True  # created, never given its tables
        return connection.execute(f"SELECT 1 FROM {IMAGES_TABLE} LIMIT 1").fetchone() is None
    except sqlite3.Error:
        return False
    finally:
        connection.close()
