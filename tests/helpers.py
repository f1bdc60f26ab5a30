"""What several test modules share: the repository's paths and small real collections.

Imported as `from .helpers import ...`; conftest.py keeps only the pytest fixtures.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "data" / "golden" / "tiny"
TINY_MODEL = GOLDEN / "model"
TINY_BPE = TINY_MODEL / "bpe.model"
# An index folder written by the release before schema 2 (see its README.md).
SCHEMA_1_INDEX = Path(__file__).parent / "data" / "index-schema1"


def indexer(*argv: str | Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m indexer ARGV...` in a process of its own, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "indexer", *map(str, argv)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass(frozen=True)
class LabelledCollection:
    """Demo-style photos (three albums, EXIF dates) whose colour and shape the tests know, indexed."""

    photos: Path
    index: Path
    label_of: dict[str, tuple[str, str]]  # file name (unique across albums) -> (colour, shape)
    broken: Path  # a file that is not an image: the index lists it as failed

    def names_labelled(self, colour: str | None = None, shape: str | None = None) -> set[str]:
        return {name for name, (c, s) in self.label_of.items() if colour in (None, c) and shape in (None, s)}


def make_labelled_collection(folder: Path, seed: int = 7) -> LabelledCollection:
    from indexer.build import BuildOptions, build_index
    from training.demo import write_demo_photos
    from training.world import labelled_pictures

    photos, index = folder / "photos", folder / "index"
    paths = write_demo_photos(photos, seed=seed, per_pair=2)
    # write_demo_photos draws labelled_pictures("demo", seed, ...) in this order: the same labels.
    pictures = labelled_pictures("demo", seed, len(paths), (320, 240))
    label_of = {p.name: (pic.colour.name, pic.shape.name) for p, pic in zip(paths, pictures, strict=True)}
    broken = photos / "2024 зима" / "сломанный снимок.jpg"
    broken.write_bytes(b"this is not a JPEG")
    build_index(photos, BuildOptions(index_dir=index, model="demo", device="cpu", workers=2, progress=False))
    return LabelledCollection(photos, index, label_of, broken)


def fresh_picture_jpeg(colour: str, shape: str) -> bytes:
    """JPEG bytes of a `colour` `shape` picture that no collection or training run holds."""
    import io

    from training.world import DEFAULT_BACKGROUNDS, labelled_picture, load_backgrounds

    photos = load_backgrounds(DEFAULT_BACKGROUNDS)
    for index in range(500):
        picture = labelled_picture("upload", 3, index, (400, 300), photos)
        if (picture.colour.name, picture.shape.name) == (colour, shape):
            buffer = io.BytesIO()
            picture.image.save(buffer, "JPEG", quality=90)
            return buffer.getvalue()
    raise AssertionError(f"no {colour} {shape} drawn")


def reencoded_jpeg(data: bytes, *, half: bool = False, quality: int = 90) -> bytes:
    """`data` decoded and saved again as JPEG at `quality`, at half size if `half`: a near-duplicate."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("RGB")
    if half:
        image = image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()
