"""What several test modules share: the repository's paths and small real collections.

Imported as `from .helpers import ...`; conftest.py keeps only the pytest fixtures.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "data" / "golden" / "tiny"
TINY_MODEL = GOLDEN / "model"
TINY_BPE = TINY_MODEL / "bpe.model"
# An index folder written by the release before schema 2 (see its README.md).
SCHEMA_1_INDEX = Path(__file__).parent / "data" / "index-schema1"


def indexer(*argv: str | Path, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    """`python -m indexer ARGV...` run in this process, from the repository root: the CLI's own main()
    with what a process of its own would print (its stdout, its stderr with the warnings run_cli's
    logging set-up prints) and its exit code, without a process's start-up (Python, torch, the model).

    A build is run with `--nice 0` unless it names --nice: the CLI raises its own process's niceness,
    which would stay raised for the rest of the test session here. Where only a process shows the
    behaviour (signals, kill -9, processes side by side, imports at start-up), use indexer_process.
    """
    from indexer.__main__ import main

    args = [str(arg) for arg in argv]
    if args[:1] in (["build"], ["watch"]) and "--nice" not in args:
        args += ["--nice", "0"]
    return in_this_process(main, args, cwd)


def in_this_process(
    main: Callable[[list[str]], int], argv: list[str], cwd: Path = REPO_ROOT
) -> subprocess.CompletedProcess:
    """A CLI's main(argv) run here as its process would run it: in `cwd`, its output and its exit
    code (argparse's SystemExit included) returned, logging set up by the CLI itself."""
    import io
    import logging
    from contextlib import chdir, redirect_stderr, redirect_stdout

    root = logging.getLogger()
    # run_cli's logging.basicConfig does nothing while pytest's capture handlers sit on the root
    # logger: take them off, so that the CLI's own handler prints its warnings into `err`.
    handlers, level = root.handlers[:], root.level
    root.handlers.clear()
    out, err = io.StringIO(), io.StringIO()
    try:
        with chdir(cwd), redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
                if isinstance(exit_.code, str):
                    print(exit_.code, file=sys.stderr)
    finally:
        for added in root.handlers:
            added.close()
        root.handlers[:] = handlers
        root.setLevel(level)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def indexer_process(*argv: str | Path, timeout: float = 300) -> subprocess.CompletedProcess:
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


@dataclass(frozen=True)
class Collection:
    """A folder of photos and its index, built with the demo model."""

    photos: Path
    index: Path


def build_demo_index(photos: Path, index: Path) -> None:
    from indexer.build import BuildOptions, build_index

    build_index(photos, BuildOptions(index_dir=index, model="demo", device="cpu", progress=False))


def make_burst_collection(folder: Path) -> Collection:
    """A red star with a half-size and a quality-60 copy (in another folder), and distinct photos."""
    photos = folder / "photos"
    (photos / "копии").mkdir(parents=True)
    star = fresh_picture_jpeg("красный", "звезда")
    (photos / "star.jpg").write_bytes(star)
    (photos / "копии" / "star-small.jpg").write_bytes(reencoded_jpeg(star, half=True))
    (photos / "копии" / "star-q60.jpg").write_bytes(reencoded_jpeg(star, quality=60))
    for colour, shape in [("синий", "круг"), ("зелёный", "квадрат"), ("жёлтый", "треугольник"), ("белый", "круг")]:
        (photos / f"{shape}-{colour}.jpg").write_bytes(fresh_picture_jpeg(colour, shape))
    build_demo_index(photos, folder / "index")
    return Collection(photos, folder / "index")


def make_copies_collection(folder: Path) -> Collection:
    """Three photos, one of them also at a second path (the same bytes: an identical copy)."""
    photos = folder / "photos"
    (photos / "копия").mkdir(parents=True)
    (photos / "star.jpg").write_bytes(fresh_picture_jpeg("красный", "звезда"))
    (photos / "копия" / "star.jpg").write_bytes((photos / "star.jpg").read_bytes())
    (photos / "circle.jpg").write_bytes(fresh_picture_jpeg("синий", "круг"))
    (photos / "square.jpg").write_bytes(fresh_picture_jpeg("зелёный", "квадрат"))
    build_demo_index(photos, folder / "index")
    return Collection(photos, folder / "index")


def make_three_photo_collection(folder: Path) -> Collection:
    """Three photos of three kinds: красный-звезда.jpg, синий-круг.jpg, жёлтый-квадрат.jpg."""
    photos = folder / "photos"
    photos.mkdir()
    for colour, shape in (("красный", "звезда"), ("синий", "круг"), ("жёлтый", "квадрат")):
        (photos / f"{colour}-{shape}.jpg").write_bytes(fresh_picture_jpeg(colour, shape))
    build_demo_index(photos, folder / "index")
    return Collection(photos, folder / "index")


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


LOADING_NOTES = ("Открываю поиск", "Загружаю модель", "Скачиваю модель")


def page_when_loaded(at, timeout_s: float = 120):
    """`at` (an AppTest of ui/app.py that has run) once the page is past its loading note: the model
    loads in a background thread and the page polls for it with a fragment, which AppTest does not
    run, so the test runs the script again until the note is gone."""
    import time

    deadline = time.monotonic() + timeout_s
    while any(note in info.value for info in at.info for note in LOADING_NOTES):
        assert time.monotonic() < deadline, f"the model did not load within {timeout_s} s"
        time.sleep(0.1)
        at.run()
    return at


TEXT_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # Debian's fonts-dejavu-core


def text_picture(lines: list[str], size: tuple[int, int], suffix: str = ".png", camera: str | None = None) -> bytes:
    """A picture of black `lines` on white (a screenshot, a receipt, a sign), as `suffix`'s format;
    with `camera`, EXIF names it as the camera that took it."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(TEXT_FONT), max(14, size[0] // 18))
    for number, line in enumerate(lines):
        draw.text((size[0] // 16, size[1] // 20 + number * int(font.size * 1.8)), line, fill="black", font=font)
    exif = Image.Exif()
    if camera:
        exif[0x010F], exif[0x0110] = camera.split()[0], camera
    buffer = io.BytesIO()
    image.save(buffer, "PNG" if suffix == ".png" else "JPEG", **({"exif": exif} if camera else {}))
    return buffer.getvalue()
