"""IndexReads: what a build reads (and the two small facts it writes) of an index before it knows
whether there is anything to do. Two classes implement it, in two SQL dialects on purpose:

- Catalog (catalog.py): sqlite3 alone, so that an unchanged re-run starts without SQLAlchemy;
- IndexStore (index_store.py): the full store, which a build opens when there is work.

The planner and the model choice take an IndexReads and never know which one they got;
tests/test_store.py checks, through this protocol, that both answer alike on the same index.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from .records import KnownRow, ModelRecord


@runtime_checkable
class IndexReads(Protocol):
    def model_record(self) -> ModelRecord | None:
        """The model that built the index; None until a first build has recorded one."""
        ...

    def weights_stat(self) -> str | None:
        """path|size|mtime of the weights file last hashed for this index."""
        ...

    def record_weights_stat(self, stat_key: str) -> None:
        """Remember the weights file's stat, so that unchanged weights are not hashed again."""
        ...

    def known_root_id(self, root: Path) -> int | None:
        """The id of a photo folder the index was built from (None: never)."""
        ...

    def known_rows(self, root_id: int) -> dict[bytes, KnownRow]:
        """Every file the index knows under a photo folder, by path."""
        ...

    def vector_file_is_current(self) -> bool:
        """Whether the recorded FAISS file holds every committed change and is the file that was written."""
        ...

    def count_indexed(self) -> int:
        """How many photos are searchable."""
        ...

    def labels_are_current(self, key: str) -> bool:
        """Whether every indexed photo has its tags and categories, made with this labels key."""
        ...

    def texts_are_current(self, key: str) -> bool:
        """Whether every indexed photo the key's OCR mode asks for has been read with its engine."""
        ...

    def record_build_finished(self, when: datetime | None = None) -> None:
        """Record when the last build finished (what the page shows)."""
        ...

    def close(self) -> None: ...


READS = tuple(
    name for name in IndexReads.__dict__ if not name.startswith("_") and callable(IndexReads.__dict__[name])
)  # the protocol's methods by name, for the test that keeps Catalog and the protocol in step
