"""Where the project's data lives: the default index folder, the demo's index and the demo model.

`$RUPHOTO_DATA` moves all three: the default index becomes `$RUPHOTO_DATA/index`, the demo's index
`$RUPHOTO_DATA/demo-index`, and a demo model retrained into `$RUPHOTO_DATA/models/demo` is
preferred over the copy shipped in the package. Without it the indexes are `data/index` and
`data/demo-index` under the current folder (where the README's commands run), and the demo model is
the one installed with the package, so that `--model demo` works after a plain `pip install`.
The demo's index is a folder of its own so that the user's photos, indexed into the default one,
never end up beside the demo's pictures or encoded by the demo model.
"""

from __future__ import annotations

from pathlib import Path

from .clip.folder import missing_files
from .constants import DEMO_MODEL
from .settings import settings

# Shipped inside the package (package data), not found through the source tree.
PACKAGED_DEMO_MODEL_DIR = Path(__file__).resolve().parent / "clip" / "demo_model"


def data_dir() -> Path:
    """$RUPHOTO_DATA, else ./data."""
    return settings().data_dir


def default_index_dir() -> Path:
    """Where commands read and write an index when --index is not given."""
    return data_dir() / "index"


def demo_index_dir() -> Path:
    """Where `make demo` and the README's Quickstart index the demo collection with the demo model."""
    return data_dir() / "demo-index"


def demo_model_dir() -> Path:
    """The demo model's checkpoint folder: $RUPHOTO_DATA/models/demo when it holds a whole
    checkpoint, else the packaged copy."""
    configured = settings()
    if configured.data_dir_set:
        override = configured.data_dir / "models" / DEMO_MODEL
        if override.is_dir() and not missing_files(override):
            return override
    return PACKAGED_DEMO_MODEL_DIR
