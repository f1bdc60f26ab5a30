"""The indexer: `python -m indexer` (see __main__.py), or from Python:

from indexer import BuildOptions, build_index
summary = build_index("/mnt/photos", BuildOptions(index_dir="photo-index", ray="auto"))
print("\n".join(summary.lines()))
"""

from .build import BuildOptions, build_index
from .summary import BuildSummary

__all__ = ["BuildOptions", "BuildSummary", "build_index"]
