"""Which model a build uses, checked against the index before anything is read or written.

Torch-free: the weights file is found and fingerprinted (or its fingerprint reused while the file
is unchanged), and compared with what built the index. The network itself is loaded only when
there is something to encode, so an unchanged re-run never pays for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from search.clip.folder import file_fingerprint, find_weights
from search.clip.hub import requested_model, resolve_model
from search.errors import IndexStoreError, ModelNotFoundError, StoreProblem
from search.store.records import ModelRecord

if TYPE_CHECKING:
    from search.clip.encoder import RuClip
    from search.store import IndexStore


class ModelFacts(Protocol):
    """What the choice reads and writes of an index (search.store's Catalog and IndexStore both do)."""

    def model_record(self) -> ModelRecord | None: ...
    def weights_stat(self) -> str | None: ...
    def record_weights_stat(self, stat_key: str) -> None: ...


@dataclass(frozen=True)
class ModelChoice:
    name: str  # as the user or the index named it
    folder: Path  # the checkpoint folder
    fingerprint: str  # sha256 of its weights
    weights_stat: str  # path|size|mtime of the weights file: hashing 600 MB again is skipped while it matches
    recorded: ModelRecord | None  # what built the index (None before the first build)


def choose_model(store: ModelFacts, requested: str | None) -> ModelChoice:
    """The model to build with: the one asked for, else the index's, else $RUCLIP_MODEL or the default.
    Raises IndexStoreError when its weights are not those the index was built with."""
    recorded = store.model_record()
    name = requested or (recorded.name if recorded else None) or requested_model(None)
    folder = resolve_model(name)
    weights = find_weights(folder)
    if weights is None:
        raise ModelNotFoundError(f"Model folder {folder} holds no weights file.")
    stat = weights.stat()
    stat_key = f"{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    if recorded is not None and store.weights_stat() == stat_key:
        fingerprint = recorded.fingerprint
    else:
        fingerprint = file_fingerprint(weights)
        if recorded is not None and fingerprint == recorded.fingerprint:
            store.record_weights_stat(stat_key)  # the same weights, moved or touched: hash them once
    if recorded is not None and fingerprint != recorded.fingerprint:
        raise IndexStoreError(
            f"This index was built with model {recorded.name!r}; {name!r} has other weights. "
            f"Build with --model {recorded.name} (or leave --model out), or use a new --index folder.",
            StoreProblem.OTHER_MODEL,
        )
    return ModelChoice(name, folder, fingerprint, stat_key, recorded)


def load_chosen(store: IndexStore, choice: ModelChoice, device: str, precision: str) -> RuClip:
    """Load the network and record it in the index (on a first build: its name, fingerprint and size)."""
    from search.clip.encoder import load_model  # torch: only when something is to be encoded

    model = load_model(choice.name, device=device, precision=precision)
    store.record_weights_stat(choice.weights_stat)
    if choice.recorded is None:
        store.record_model(ModelRecord(choice.name, choice.fingerprint, model.embed_dim))
    return model
