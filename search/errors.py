"""Typed errors of the search package.

Every message says what is wrong *and* what the user can do about it, because these messages are
what a person sees in the CLI and the UI (the CLI prints them without a traceback). The reason is
a field (an enum), so that code decides by it and never by the message's wording.
"""

from __future__ import annotations

from enum import Enum, StrEnum

from .i18n import N_


class RuClipError(Exception):
    """Base class of every error this project raises on purpose."""


class ModelProblem(Enum):
    """Why a model cannot be loaded (ModelNotFoundError.reason; CheckpointError's is always DAMAGED)."""

    DEMO_MISSING = "demo missing"  # the packaged demo model is gone from the installation
    FOLDER_MISSING = "folder missing"  # a path that is no folder (moved, an unmounted disk)
    INCOMPLETE = "incomplete"  # a folder without all the checkpoint files: not a model (yet)
    UNREADABLE = "unreadable"  # a model folder or file this user may not read
    UNKNOWN_NAME = "unknown name"  # neither a published name, nor "demo", nor a path
    NOT_DOWNLOADED = "not downloaded"  # a published model not in the hub cache, and no download asked for
    DOWNLOAD_FAILED = "download failed"  # not cached, and the hub cannot be reached or the download failed
    DAMAGED = "damaged"  # the files are there but unreadable as a checkpoint, or of another version


class ModelNotFoundError(RuClipError):
    """A model name or folder could not be resolved to the three checkpoint files; `reason` says why."""

    def __init__(self, message: str, reason: ModelProblem):
        super().__init__(message)
        self.reason = reason

    def __reduce__(self):  # the reason survives pickling, as for the other errors
        return type(self), (str(self), self.reason)


class CheckpointError(RuClipError):
    """A checkpoint folder exists but its config, weights or tokenizer are unusable."""

    reason = ModelProblem.DAMAGED  # one case, named as ModelNotFoundError's are


class ImageProblem(StrEnum):
    """Why a file could not become an image; the value is the reason an index records and groups by
    (in English, whatever the language: the terminal shows it through search.i18n's _())."""

    NOT_AN_IMAGE = N_("not a readable image")
    TOO_LARGE = N_("too large")
    PERMISSION_DENIED = N_("permission denied")
    VANISHED = N_("vanished")
    OUT_OF_MEMORY = N_("out of memory")
    DECODER_ERROR = N_("decoder error")
    DECODER_CRASHED = N_("crashed the decoder")
    TIMED_OUT = N_("timed out")
    RAW_UNREADABLE = N_("unreadable camera RAW")  # rawpy missing, a damaged RAW, or a camera LibRaw does not know
    NOT_VISIBLE = N_("not visible on a node")  # a cluster node without the photos' mount: tried again next build


# Failures that say nothing about the file itself: the next build tries such a file again even if unchanged.
RETRIED_PROBLEMS = frozenset({ImageProblem.NOT_VISIBLE})


class ImageLoadError(RuClipError):
    """An image file could not be opened or decoded."""

    def __init__(self, message: str, reason: ImageProblem = ImageProblem.NOT_AN_IMAGE):
        super().__init__(message)
        self.reason = reason

    def __reduce__(self):  # the reason survives pickling (worker processes, multiprocessing pools)
        return type(self), (str(self), self.reason)


class StoreProblem(Enum):
    """What is wrong with an index folder (IndexStoreError.reason)."""

    NO_INDEX = "no index"  # the folder holds no index.sqlite
    NOT_BUILT = "not built"  # the database exists, no build has recorded a model yet
    BUSY = "busy"  # another build holds the folder
    OTHER_MODEL = "other model"  # the model's weights are not the ones the index was built with
    DAMAGED = "damaged"  # index.sqlite is not a readable SQLite database
    NEWER_SCHEMA = "newer schema"  # written by a newer version of this program
    DISK_FULL = "disk full"
    READ_ONLY = "read-only"  # index.sqlite or its folder cannot be written
    UNKNOWN_IMAGE = "unknown image"  # an id or a path that is not an indexed image
    BACKUP_FAILED = "backup failed"


class IndexStoreError(RuClipError):
    """An index folder is missing, damaged, busy, or was built by another model."""

    def __init__(self, message: str, reason: StoreProblem):
        super().__init__(message)
        self.reason = reason

    def __reduce__(self):  # the reason survives pickling (worker processes, multiprocessing pools)
        return type(self), (str(self), self.reason)


class LabelProblem(Enum):
    """Why a tag or a category could not be used or made (LabelError.reason); the page words each."""

    UNKNOWN_TAG = "unknown tag"
    UNKNOWN_CATEGORY = "unknown category"
    NO_EXAMPLES = "no examples"  # a category asked for with no example photo
    NOT_IN_INDEX = "not in index"  # an example path or id that is no indexed photo of this index
    OTHER_MODEL = "other model"  # a category fitted on another model's vectors
    BAD_NAME = "bad name"  # an empty name, or one a tag or category already has
    VOCABULARY_TAG = "vocabulary tag"  # removing a tag of the vocabulary (only the user's own go)
    PROBE_UNAVAILABLE = "probe unavailable"  # scikit-learn is not installed
    NOT_TAGGED = "not tagged"  # the index's photos have no tags yet (a build will add them)


class LabelError(RuClipError):
    """A tag or category request that cannot be done; the message says what to do instead."""

    def __init__(self, message: str, reason: LabelProblem):
        super().__init__(message)
        self.reason = reason

    def __reduce__(self):
        return type(self), (str(self), self.reason)


class OcrProblem(Enum):
    """Why the words in photos cannot be read here (OcrUnavailableError.reason)."""

    ENGINE_MISSING = "engine missing"  # tesserocr is not installed
    LANGUAGE_DATA_MISSING = "language data missing"  # no folder holds both rus and eng .traineddata


class OcrUnavailableError(RuClipError):
    """Tesseract or its Russian and English data are not installed; the message says how to get them."""

    def __init__(self, message: str, reason: OcrProblem):
        super().__init__(message)
        self.reason = reason

    @property
    def problem(self) -> OcrProblem:  # the same as `reason`, under the name the OCR stage uses
        return self.reason

    def __reduce__(self):  # the reason survives pickling (the OCR runs in worker processes)
        return type(self), (str(self), self.reason)
