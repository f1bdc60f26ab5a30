"""Typed errors of the search package.

Every message says what is wrong *and* what the user can do about it, because these messages are
what a person sees in the CLI and the UI (the CLI prints them without a traceback).
"""

from __future__ import annotations


class RuClipError(Exception):
    """Base class of every error this project raises on purpose."""


class ModelNotFoundError(RuClipError):
    """A model name or folder could not be resolved to the three checkpoint files."""


class CheckpointError(RuClipError):
    """A checkpoint folder exists but its config, weights or tokenizer are unusable."""


class ImageLoadError(RuClipError):
    """An image file could not be opened or decoded."""


class IndexStoreError(RuClipError):
    """An index folder is missing, damaged, busy, or was built by another model."""
