"""The vector a search looks for: a query's text terms and its example image, weighted and summed.

Text terms are embedded once and cached (the page runs the same query again on every interaction);
prompt ensembling, when asked for, embeds each term inside several captions and averages them.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ..errors import IndexStoreError, StoreProblem
from ..i18n import _
from ..store import IndexStore
from .language import QueryError, QueryProblem, Term
from .request import ImageQuery

if TYPE_CHECKING:
    from ..clip.encoder import RuClip
    from ..clip.onnx_model import OnnxRuClip

# Torch threads that encode one query; None: torch's own setting (one per core). Measured beside a
# build on 2 cores (benchmarks/query_beside_build.py, BENCHMARKS.md): with the build at niceness 10
# (its default), two threads are the fastest, quiet or not; one thread is the choice when other
# programs at normal priority keep the cores busy (a second thread then waits for a core).
QUERY_THREADS: int | None = None
QUERY_CACHE_SIZE = 256  # term embeddings kept: the UI re-runs the same query on every interaction
# Prompt ensembling (CLIP's trick: a term is embedded inside several captions and averaged). Off by
# default: on the demo model it changes precision@5 of the 32 colour+shape queries by 0.00
# (0.944 -> 0.944 with these four); it is a knob for real ruCLIP models, unmeasured offline.
RUSSIAN_PROMPTS = ("{}", "фото, на котором изображено {}", "на картинке {}", "изображение: {}")


class QueryVectors:
    """Query vectors for one index's model. Thread-safe: the term cache has its own lock."""

    def __init__(
        self,
        model: RuClip | OnnxRuClip,
        store: IndexStore,
        dim: int,
        prompts: tuple[str, ...] | None = None,
        query_threads: int | None = QUERY_THREADS,
    ):
        self.model, self.dim = model, dim
        self.prompts = prompts  # templates with one "{}" each; None: terms are embedded as typed
        self.query_threads = query_threads  # torch threads that encode a query (None: torch's own setting)
        self._store = store  # an indexed image's stored vector, for an example given by id
        self._cache_lock = threading.Lock()
        self._term_cache: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()

    def query_vector(
        self, terms: tuple[Term, ...], image: ImageQuery | None = None, image_weight: float = 1.0
    ) -> npt.NDArray[np.float32]:
        """The unit vector (dim,) of the terms and the example image, weighted and summed."""
        total = np.zeros(self.dim, dtype=np.float32)
        with _torch_threads(self.query_threads):
            for term in terms:
                total += term.weight * self._term_vector(term.text)
            if image is not None:
                total += image_weight * self._image_vector(image)
        norm = float(np.linalg.norm(total))
        if norm < 1e-6:
            raise QueryError(
                _("search needs a text, an example image, or both (and weights that do not cancel out)"),
                QueryProblem.NOTHING_TO_SEARCH,
            )
        return (total / norm).astype(np.float32)

    def clear_cache(self) -> None:
        """Forget the term embeddings (a benchmark times every query's text encoding)."""
        with self._cache_lock:
            self._term_cache.clear()

    def _term_vector(self, text: str) -> npt.NDArray[np.float32]:
        with self._cache_lock:
            cached = self._term_cache.get(text)
            if cached is not None:
                self._term_cache.move_to_end(text)
                return cached
        if self.prompts:
            mean = self.model.encode_texts([template.format(text) for template in self.prompts]).mean(axis=0)
            vector = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        else:
            vector = self.model.encode_texts([text])[0]
        vector.setflags(write=False)  # shared by every caller from now on
        with self._cache_lock:
            self._term_cache[text] = vector
            while len(self._term_cache) > QUERY_CACHE_SIZE:
                self._term_cache.popitem(last=False)
        return vector

    def _image_vector(self, image: ImageQuery) -> npt.NDArray[np.float32]:
        if isinstance(image, int):  # an indexed image by id: its stored vector, nothing to decode
            vector = self._store.vector_of(image)
            if vector is None:
                raise IndexStoreError(
                    _("No indexed image with id {image} in {folder}.").format(image=image, folder=self._store.folder),
                    StoreProblem.UNKNOWN_IMAGE,
                )
            return vector
        if isinstance(image, np.ndarray):  # an embedding the caller kept, e.g. of an uploaded photo
            if image.shape != (self.dim,):
                raise QueryError(
                    _("an image embedding for this index has shape ({dim},), not {shape}").format(
                        dim=self.dim, shape=image.shape
                    )
                )
            return image.astype(np.float32) / max(float(np.linalg.norm(image)), 1e-12)
        return self.model.encode_images([image])[0]


@contextmanager
def _torch_threads(count: int | None) -> Iterator[None]:
    """Encode a query with `count` torch threads on the calling thread (torch keeps the setting per
    thread, as OpenMP does; it is put back). See QUERY_THREADS."""
    torch = sys.modules.get("torch")
    if count is None or torch is None:  # no torch loaded: the model is ONNX Runtime's, with its own threads
        yield
        return

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
