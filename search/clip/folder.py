"""A checkpoint folder's files, without torch: which are there, which weights file, its fingerprint.

Used where no network is built: resolving a model name, listing the cache, and an indexer run that
must check the model against its index before deciding whether anything needs encoding.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..constants import CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILES


def find_weights(folder: Path) -> Path | None:
    """The folder's weights file, safetensors preferred."""
    for name in WEIGHTS_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def missing_files(folder: Path) -> list[str]:
    """Names of the checkpoint files that `folder` lacks (empty when it is complete)."""
    missing = [name for name in (CONFIG_FILE, TOKENIZER_FILE) if not (folder / name).is_file()]
    if find_weights(folder) is None:
        missing.append(" or ".join(reversed(WEIGHTS_FILES)))
    return missing


def file_fingerprint(path: Path) -> str:
    """sha256 of a file's bytes, in hex: what an index records of the weights that built it (so that
    it refuses another model's queries) and of each FAISS file it writes (so that it trusts no other)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
