"""One writer per index folder at a time: a build, or `verify` (which may rewrite the FAISS file).

Two writers would interleave checkpoints, and a repair would delete the file a build is writing.
An advisory lock (flock) on a file in the index folder: released by the kernel when its holder
dies, so a killed build never leaves the folder locked.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import IndexStoreError, StoreProblem
from ..i18n import _

LOCK_FILE = ".build.lock"


@contextmanager
def writer_lock(index_dir: Path, doing: str = "build") -> Iterator[None]:
    """Hold the folder's writer lock, or raise IndexStoreError BUSY at once if another holds it."""
    index_dir.mkdir(parents=True, exist_ok=True)
    handle = open(index_dir / LOCK_FILE, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise IndexStoreError(
            _("A build is running on {index_dir}; {doing} when it has finished.").format(
                index_dir=index_dir, doing=doing
            ),
            StoreProblem.BUSY,
        ) from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
