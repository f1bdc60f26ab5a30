"""Model name or folder -> a local checkpoint folder: the folder itself, the hub cache, or a download."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..constants import (
    CONFIG_FILE,
    DEFAULT_MODEL,
    DEMO_MODEL,
    HUB_ORGANISATION,
    LEGACY_ORGANISATIONS,
    MODEL_ENV_VAR,
    TOKENIZER_FILE,
    WEIGHTS_FILES,
)
from ..errors import ModelNotFoundError
from ..paths import demo_model_dir
from .config import PUBLISHED_CONFIGS
from .folder import missing_files

log = logging.getLogger(__name__)

DOWNLOADED_FILES = (CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILES[-1])


def requested_model(name_or_path: str | os.PathLike[str] | None) -> str:
    """The model the user asked for: the argument, else $RUCLIP_MODEL, else the default."""
    if name_or_path is not None and str(name_or_path).strip():
        return str(name_or_path).strip()
    return os.environ.get(MODEL_ENV_VAR, "").strip() or DEFAULT_MODEL


def published_name(name: str) -> str | None:
    """'ruclip-vit-base-patch32-384' or 'ai-forever/ruclip-...' -> the bare published name."""
    organisation, _, bare = name.rpartition("/")
    if organisation in ("", HUB_ORGANISATION, *LEGACY_ORGANISATIONS) and bare in PUBLISHED_CONFIGS:
        return bare
    return None


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "~", os.sep)) or (os.sep in name and published_name(name) is None)


def resolve_model(name_or_path: str | os.PathLike[str] | None = None, *, download: bool = True) -> Path:
    """Return a folder holding config.json, the weights and bpe.model for the requested model.

    The name `demo` is the packaged demo model (a folder of that name is `./demo`); an existing
    folder is used as it is; a published name is looked up in the Hugging Face cache and downloaded
    (with a progress bar) when absent and `download` is true.
    """
    name = requested_model(name_or_path)
    folder = Path(name).expanduser()
    if name == DEMO_MODEL:
        demo = demo_model_dir()  # shipped in the package; see search.paths
        if not demo.is_dir() or missing_files(demo):
            raise ModelNotFoundError(
                f"The demo model is not in {demo}. It ships with the package; reinstall it, or "
                "re-create it with: python -m training demo-model"
            )
        return demo
    if folder.is_dir():
        missing = missing_files(folder)
        if missing:
            raise ModelNotFoundError(
                f"Model folder {folder} is missing {', '.join(missing)}. A ruCLIP folder holds "
                f"{CONFIG_FILE}, {WEIGHTS_FILES[-1]} and {TOKENIZER_FILE}, as published at "
                f"https://huggingface.co/{HUB_ORGANISATION}/{DEFAULT_MODEL}."
            )
        return folder
    bare = published_name(name)
    if bare is None:
        if _looks_like_path(name) or folder.exists():
            raise ModelNotFoundError(f"Model folder {folder} does not exist (or is not a folder).")
        raise ModelNotFoundError(
            f"Unknown model {name!r}. Use one of: {', '.join(PUBLISHED_CONFIGS)}, {DEMO_MODEL!r} (offline, "
            "colours and shapes only), "
            f"or the path of a folder with {CONFIG_FILE}, {WEIGHTS_FILES[-1]} and {TOKENIZER_FILE}."
        )
    return _hub_folder(bare, download=download)


def _hub_folder(name: str, *, download: bool) -> Path:
    # Imported here: huggingface_hub is only needed when a published name is used.
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    repo_id = f"{HUB_ORGANISATION}/{name}"
    try:
        paths = [Path(hf_hub_download(repo_id, f, local_files_only=True)) for f in DOWNLOADED_FILES]
        return paths[0].parent
    except LocalEntryNotFoundError:
        pass  # not (completely) cached yet
    if not download:
        raise ModelNotFoundError(_how_to_get(name, "it is not in the local model cache"))
    log.info("downloading %s from the Hugging Face hub", repo_id)
    try:
        # hf_hub_download shows a tqdm progress bar per file and resumes interrupted downloads.
        paths = [Path(hf_hub_download(repo_id, f)) for f in DOWNLOADED_FILES]
    except Exception as exc:  # offline, DNS, HTTP, disk: all end in the same advice
        reason = f"the download failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        raise ModelNotFoundError(_how_to_get(name, reason)) from None
    return paths[0].parent


def _how_to_get(name: str, reason: str) -> str:
    url = f"https://huggingface.co/{HUB_ORGANISATION}/{name}"
    return (
        f"Model {name!r} is not available: {reason}. Either connect to the internet and run again "
        f"(it is downloaded once into the Hugging Face cache, $HF_HOME), or download {', '.join(DOWNLOADED_FILES)} "
        f"from {url} into a folder and pass that folder as the model (--model /path/to/folder or "
        f"{MODEL_ENV_VAR}=/path/to/folder)."
    )
