"""Typed errors of a build that are not the index store's: the photo folder, the decoding processes,
the Ray cluster. (What is wrong with the index folder itself stays search.errors.IndexStoreError.)

Each message names the folder, flag or command involved and what to do; the CLI prints it as
`error: <message>` (exit 2) like every RuClipError. The reason is an enum, so that code (the
watcher) decides by it and never by the wording.
"""

from __future__ import annotations

from enum import StrEnum

from search.errors import RuClipError


class BuildError(RuClipError):
    """A build cannot run (or go on) for a reason outside the index folder."""


class BadOptionError(BuildError, ValueError):
    """A BuildOptions (or WatchOptions) field holds a value no build can use; the message names the field."""


class PhotoFolderProblem(StrEnum):
    """What is wrong with the folder to index (PhotoFolderError.reason)."""

    MISSING = "missing"  # not there or not a folder (an unmounted disk?)
    UNREADABLE = "unreadable"  # there, but its entries cannot be listed (permissions)


class PhotoFolderError(BuildError):
    """The photo folder to index is missing or cannot be read: said, never taken for an empty collection."""

    def __init__(self, message: str, reason: PhotoFolderProblem):
        super().__init__(message)
        self.reason = reason

    def __reduce__(self):  # the reason survives pickling
        return type(self), (str(self), self.reason)


class DecoderStartError(BuildError):
    """The decoding worker processes exit as soon as they start (memory, a process limit, a broken Pillow)."""


class ClusterProblem(StrEnum):
    """Why a `build --ray` could not run or go on (ClusterError.reason)."""

    NOT_INSTALLED = "not installed"  # Ray Data is not importable here
    NO_CLUSTER = "no cluster"  # --ray auto found no cluster to join
    UNREACHABLE = "unreachable"  # nothing answers at the address
    CANNOT_JOIN = "cannot join"  # ray.init failed
    NODE_REFUSED = "node refused"  # a node cannot load the driver's model (other weights, no model)
    PIPELINE_FAILED = "pipeline failed"  # the Ray Data pipeline itself failed mid-build


class ClusterError(BuildError):
    """Ray is missing, the cluster cannot be joined, or its pipeline failed (`build --ray`)."""

    def __init__(self, message: str, reason: ClusterProblem):
        super().__init__(message)
        self.reason = reason

    def __reduce__(self):  # the reason survives pickling
        return type(self), (str(self), self.reason)
