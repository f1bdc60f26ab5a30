"""Query an index: Russian text and/or an example image -> hits, best first.

    index = search.open_index("data/index")
    hits = index.search("рыжий кот на диване", k=20)

The model is the one the index recorded (or a given one with the same weights). Reads see the
last committed state of a concurrent build: each search first replays rows changed since.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image
from sqlalchemy import select

from .encoder import RuClip, load_model
from .errors import IndexStoreError
from .store import INDEXED, ImageRow, count_indexed, current_seq, get_meta, open_database
from .vectors import FAISS_FILE_KEY, catch_up, load_vectors


@dataclass(frozen=True)
class Hit:
    id: int
    path: str
    score: float  # cosine similarity of the query and the image, in [-1, 1]
    width: int | None = None
    height: int | None = None
    taken_at: datetime | None = None
    camera: str | None = None


class PhotoIndex:
    """A searchable index folder. Thread-safe: Streamlit serves sessions from threads."""

    def __init__(self, folder: str | os.PathLike[str], model: RuClip | str | None = None, device: str = "auto"):
        self.folder = Path(folder)
        self._factory = open_database(self.folder, create=False)
        with self._factory() as session:
            recorded = get_meta(session, "model_name")
            fingerprint = get_meta(session, "model_fingerprint")
            dim = get_meta(session, "embed_dim")
        if recorded is None or fingerprint is None or dim is None:
            raise IndexStoreError(f"{self.folder} holds no finished build yet; run python -m indexer build first.")
        self.dim = int(dim)
        self.model = model if isinstance(model, RuClip) else load_model(model or recorded, device=device)
        if self.model.fingerprint != fingerprint:
            raise IndexStoreError(
                f"The index {self.folder} was built with model {recorded!r}, and {self.model.name!r} has other "
                f"weights: its vectors would be meaningless here. Open it without a model (it uses {recorded!r}) "
                "or rebuild the index with this model into another folder."
            )
        self._lock = threading.Lock()
        with self._factory() as session:
            self._vectors = load_vectors(self.folder, session, self.dim)

    def _refresh(self) -> None:
        """Pick up rows a concurrent build committed since the last query."""
        with self._factory() as session:
            if current_seq(session) != self._vectors.seq:
                if get_meta(session, FAISS_FILE_KEY) is None:
                    return
                self._vectors = catch_up(session, self._vectors, self.dim)

    def __len__(self) -> int:
        with self._factory() as session:
            return count_indexed(session)

    def _query_vector(
        self, text: str | None, image: Image.Image | str | os.PathLike[str] | None
    ) -> npt.NDArray[np.float32]:
        parts = []
        if text is not None and text.strip():
            parts.append(self.model.encode_texts([text])[0])
        if image is not None:
            parts.append(self.model.encode_images([image])[0])
        if not parts:
            raise ValueError("search needs a text, an image, or both")
        query = np.sum(parts, axis=0)
        return (query / max(float(np.linalg.norm(query)), 1e-12)).astype(np.float32)

    def search(
        self, text: str | None = None, *, image: Image.Image | str | os.PathLike[str] | None = None, k: int = 20
    ) -> list[Hit]:
        """The k images closest to the text, the example image, or both (their unit vectors summed)."""
        query = self._query_vector(text, image)
        with self._lock:
            self._refresh()
            if self._vectors.ntotal == 0 or k <= 0:
                return []
            scores, ids = self._vectors.index.search(query[None, :], min(k, self._vectors.ntotal))
        found = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
        with self._factory() as session:
            rows = {
                row.id: row
                for row in session.scalars(
                    select(ImageRow).where(ImageRow.id.in_([i for i, _ in found]), ImageRow.state == INDEXED)
                )
            }
        return [
            Hit(i, rows[i].file_path, score, rows[i].width, rows[i].height, rows[i].taken_at, rows[i].camera)
            for i, score in found
            if i in rows
        ]


def open_index(folder: str | os.PathLike[str], model: RuClip | str | None = None, device: str = "auto") -> PhotoIndex:
    """Open an index folder built by `python -m indexer build`."""
    return PhotoIndex(folder, model=model, device=device)
