"""The index writer: store records (IndexedImage / FailedImage) -> committed rows, FAISS checkpoints.

Every batch is one SQLite transaction (the source of truth, vectors included); every
`checkpoint_min_images` files (and time: see below) and at the end the FAISS cache is brought up to date and replaced
atomically. A kill at any moment loses at most the batch in flight.

A checkpoint rewrites the whole FAISS file, so its cost grows with the collection while a batch's
does not: past some size, checkpoints every 1,024 files would take most of the writer's time. So a
checkpoint also waits until CHECKPOINT_WAIT_FACTOR times as long as the last one took has passed,
which keeps checkpoints under a tenth of a build's time at any size (readers replay what the file
lacks from SQLite meanwhile). It takes store records
(IndexedImage / FailedImage), so whatever produces them (the local decode pool and encoder, a Ray
pipeline, a GPU decoder) hands them to the same writer.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from search.store import FailedImage, IndexedImage, IndexStore
from search.store.vectors import VectorIndex, catch_up, load_vectors, reshape_if_needed, save_vectors

CHECKPOINT_WAIT_FACTOR = 9  # the time between checkpoints ≥ 9 × the last one's: they take ≤ 10 % of a build


class IndexWriter:
    def __init__(
        self,
        store: IndexStore,
        index_dir: Path,
        root_id: int,
        dim: int,
        *,
        checkpoint_min_images: int,
        on_batch: Callable[[int], None] = lambda files: None,
    ):
        self.store, self.index_dir, self.root_id, self.dim = store, index_dir, root_id, dim
        self.checkpoint_min_images = checkpoint_min_images
        self.on_batch = on_batch  # told how many files each batch held (the progress bar)
        self.indexed = 0
        self.reused = 0  # of those, identical to a photo already indexed (not encoded again)
        self.failed: Counter[str] = Counter()
        self._since_checkpoint = 0
        self._checkpoint_s = 0.0  # how long the last checkpoint took, and when it ended
        self._checkpoint_ended = time.monotonic()
        # The recorded file, replayed up to now (or rebuilt, if it could not be trusted).
        self.vectors: VectorIndex = load_vectors(index_dir, store, dim)

    def write(self, rows: Sequence[IndexedImage | FailedImage]) -> None:
        """Commit one batch; checkpoint the FAISS file when enough files have been written since."""
        self.store.write_batch(self.root_id, rows)
        for row in rows:
            if isinstance(row, FailedImage):
                self.failed[row.reason] += 1
            else:
                self.indexed += 1
                self.reused += row.reused
        self._since_checkpoint += len(rows)
        self.on_batch(len(rows))
        due = self._since_checkpoint >= self.checkpoint_min_images
        affordable = time.monotonic() - self._checkpoint_ended >= CHECKPOINT_WAIT_FACTOR * self._checkpoint_s
        if due and affordable:
            self.checkpoint()

    def checkpoint(self) -> None:
        """Bring the FAISS cache up to every committed change, reshape it if the collection's size
        calls for another kind, and replace the file atomically (see search.store.vectors)."""
        started = time.monotonic()
        self.vectors = reshape_if_needed(self.store, catch_up(self.store, self.vectors, self.dim), self.dim)
        save_vectors(self.index_dir, self.store, self.vectors)
        self._since_checkpoint = 0
        self._checkpoint_ended = time.monotonic()
        self._checkpoint_s = self._checkpoint_ended - started

    def finish(self) -> None:
        """The last checkpoint, when anything changed since the file was written."""
        record = self.store.vector_file_record()
        stale = (
            record is None
            or not record.is_current(self.store.change_counter(), self.index_dir)  # behind, replaced or touched
            or self.vectors.rebuilt  # the file could not be trusted
        )
        if stale or self._since_checkpoint:
            self.checkpoint()
