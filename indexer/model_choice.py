"""Which model a build uses, checked against the index before anything is read or written.

Torch-free: the weights file is found and fingerprinted (or its fingerprint reused while the file
is unchanged), and compared with what built the index. The network itself is loaded only when
there is something to encode, so an unchanged re-run never pays for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from search.clip.folder import file_fingerprint, find_weights
from search.clip.hub import published_name, requested_model, resolve_model
from search.clip.onnx_files import onnx_runtime_wanted
from search.constants import DEMO_MODEL
from search.errors import IndexStoreError, ModelNotFoundError, ModelProblem, StoreProblem
from search.i18n import _
from search.paths import default_index_dir
from search.settings import settings
from search.store.reads import IndexReads
from search.store.records import ModelRecord

if TYPE_CHECKING:
    from search.clip.encoder import RuClip
    from search.clip.onnx_model import OnnxRuClip
    from search.store import IndexStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelChoice:
    name: str  # as the user or the index named it
    folder: Path  # the checkpoint folder
    fingerprint: str  # sha256 of its weights
    weights_stat: str  # path|size|mtime of the weights file: hashing 600 MB again is skipped while it matches
    recorded: ModelRecord | None  # what built the index (None before the first build)


def choose_model(
    store: IndexReads, requested: str | None, root: Path | None = None, index_dir: Path | None = None
) -> ModelChoice:
    """The model to build `root` into `index_dir` with: the one asked for, else the index's, else
    $RUPHOTO_MODEL or the default. Raises IndexStoreError when its weights are not those the index
    was built with, or when a new photo folder would silently be encoded by the demo model."""
    recorded = store.model_record()
    asked = requested.strip() if requested and requested.strip() else None
    if asked is None and recorded is not None:
        _refuse_new_folder_into_demo_index(store, recorded, root, index_dir)
        _say_why_the_recorded_model(recorded, index_dir)
    name = asked or (recorded.name if recorded else None) or requested_model(None)
    folder = resolve_model(name)
    weights = find_weights(folder)
    if weights is None:
        raise ModelNotFoundError(
            _("Model folder {folder} holds no weights file.").format(folder=folder), ModelProblem.INCOMPLETE
        )
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
            _(
                "This index was built with model {recorded!r}; {asked!r} has other weights. Build with "
                "--model {recorded} (or leave --model out), or use a new --index folder."
            ).format(recorded=recorded.name, asked=name),
            StoreProblem.OTHER_MODEL,
        )
    return ModelChoice(name, folder, fingerprint, stat_key, recorded)


def _refuse_new_folder_into_demo_index(
    store: IndexReads, recorded: ModelRecord, root: Path | None, index_dir: Path | None
) -> None:
    """The index's model is reused when --model is left out, which is right for a re-run, but
    turns a first build of the user's own photos into the demo's index into a trap: they would be
    encoded by a model that knows only colours and shapes and mixed with the demo's pictures."""
    if recorded.name != DEMO_MODEL or root is None or store.known_root_id(root) is not None:
        return
    where = index_dir if index_dir is not None else _("this index")
    elsewhere = _("another --index folder")
    if index_dir is None or Path(index_dir).resolve() != default_index_dir().resolve():
        elsewhere += _(" (or leave --index out: the default {default})").format(default=default_index_dir())
    raise IndexStoreError(
        _(
            "The index {where} holds the offline demo model (colours and shapes only), and {root} is "
            "not one of its photo folders. To index your photos with a real ruCLIP model, use "
            "{elsewhere}; to add them to the demo index on purpose, pass --model {DEMO_MODEL}. Nothing "
            "was changed."
        ).format(where=where, root=root, elsewhere=elsewhere, DEMO_MODEL=DEMO_MODEL),
        StoreProblem.OTHER_MODEL,
    )


def _say_why_the_recorded_model(recorded: ModelRecord, index_dir: Path | None) -> None:
    """When the index's model is not the one $RUPHOTO_MODEL (or the default) names, the build keeps
    the index's (an index holds one model's vectors) and says so, since the user expected the other."""
    configured = requested_model(None)
    if _same_model_name(recorded.name, configured):
        return
    source = settings().model_source
    where = index_dir if index_dir is not None else _("this index")
    log.warning(
        _(
            "using model %s, recorded in %s (not %s, %s): an index holds one model's vectors. Use "
            "another --index to build with %s."
        ),
        recorded.name,
        where,
        configured,
        source,
        configured,
    )


def _same_model_name(a: str, b: str) -> bool:
    """'ruclip-x' and 'ai-forever/ruclip-x' name one model; anything else compares as written."""
    return a == b or (published_name(a) is not None and published_name(a) == published_name(b))


@dataclass
class ModelCache:
    """The network a previous build of this process loaded, and what it was loaded as: a caller that
    builds again and again in one process (indexer/watch.py) keeps it loaded between builds."""

    key: tuple[str, str, str, str] | None = None  # (weights fingerprint, model folder, device, precision)
    model: RuClip | OnnxRuClip | None = None


def load_chosen(
    choice: ModelChoice, device: str, precision: str, cache: ModelCache | None = None
) -> RuClip | OnnxRuClip:
    """Load the chosen network, or take the one `cache` holds when it was loaded as the same. On a
    CPU in fp32 that is its ONNX export run by ONNX Runtime (exported on first use: faster, and no
    torch import once exported), and in int8 its quantized image tower; otherwise (bf16, fp16, a GPU),
    or when that cannot be had, the torch network."""
    key = (choice.fingerprint, str(choice.folder), device, precision)
    if cache is not None and cache.key == key and cache.model is not None:
        return cache.model
    model: RuClip | OnnxRuClip | None = None
    if onnx_runtime_wanted(device, precision):
        from search.clip.onnx_model import load_onnx_model

        model = load_onnx_model(choice.name, choice.folder, choice.fingerprint, "image", precision=precision)
    if model is None:
        from search.clip.encoder import load_model  # torch: only when something is to be encoded

        model = load_model(choice.name, device=device, precision=precision)
    if cache is not None:
        cache.key, cache.model = key, model
    return model


def record_chosen(store: IndexStore, choice: ModelChoice, embed_dim: int) -> None:
    """Record the chosen model in the index: the weights' stat always, its name, fingerprint and size
    on a first build (a cluster build records it without loading the network here)."""
    store.record_weights_stat(choice.weights_stat)
    if choice.recorded is None:
        store.record_model(ModelRecord(choice.name, choice.fingerprint, embed_dim))
