"""The indexer: `python -m indexer` (see __main__.py), or from Python:

from indexer import BuildOptions, build_index
summary = build_index("/mnt/photos", BuildOptions(index_dir="photo-index", ray="auto"))
print("\n".join(summary.lines()))

The names are imported on first use: `python -m indexer search` never loads the build.
"""

from typing import TYPE_CHECKING

from search.lazy import lazy_exports

if TYPE_CHECKING:
    from .build import BuildOptions, build_index
    from .summary import BuildSummary

__all__ = ["BuildOptions", "BuildSummary", "build_index"]
__getattr__ = lazy_exports(__name__, {"BuildOptions": "build", "build_index": "build", "BuildSummary": "summary"})
