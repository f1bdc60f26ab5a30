"""Published data sets -> image folders (DIR/<split>/<class>/...), the layout `evaluate` reads.

Read with numpy from the releases' binary versions (not the Python versions, which are pickles):
- CIFAR-10, `cifar-10-binary.tar.gz` -> cifar-10-batches-bin/: data_batch_1..5.bin, test_batch.bin, each
  record 1 label byte + 3072 bytes (1024 red, 1024 green, 1024 blue, rows of 32); batches.meta.txt;
- CIFAR-100, `cifar-100-binary.tar.gz` -> cifar-100-binary/: train.bin, test.bin, each record a coarse and
  a fine label byte + 3072 bytes; fine_label_names.txt;
- STL-10, `stl10_binary.tar.gz` -> stl10_binary/: train_X.bin, test_X.bin (96 × 96 × 3, column-major),
  train_y.bin, test_y.bin (labels 1-10), class_names.txt.
PNG keeps the pixels exactly. The folder names are the releases' class names, as classes/*.json name them.

Two releases already ship image files, listed by split in text files; those files are linked (copied
where the file system cannot link) into the class folders:
- Oxford-IIIT Pets, `images.tar.gz` and `annotations.tar.gz` extracted into one folder: images/<Breed>_<n>.jpg,
  annotations/trainval.txt and test.txt (a line: the image's name, then numbers), the breed the name's prefix;
- DTD, `dtd-r1.0.1.tar.gz` -> dtd/: images/<texture>/*.jpg, labels/train1.txt, val1.txt, test1.txt
  (a line: texture/file.jpg); train = train1 + val1, test = test1 (the first of its ten splits);
- Food-101, `food-101.tar.gz` -> food-101/: images/<dish>/*.jpg, meta/train.txt and test.txt (a line: dish/number);
- Flowers-102, `102flowers.tgz`, `imagelabels.mat` and `setid.mat` in one folder: jpg/image_NNNNN.jpg, the labels
  1-102 in imagelabels.mat (read with SciPy), train = trnid + valid, test = tstid in setid.mat; label n's folder is
  the n-th name of classes/flowers102.json, the English names the release's users share (its `cat_to_name.json`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .data import CLASSES_DIR

if TYPE_CHECKING:  # numpy is imported when a release is read: the command's parser lists RELEASES
    import numpy as np
    import numpy.typing as npt


@dataclass(frozen=True)
class Release:
    names_file: str
    splits: dict[str, tuple[str, ...]]  # split -> its files (STL-10: the X file; its y file is beside it)
    label_bytes: int  # bytes before each CIFAR record's pixels; 0 for STL-10
    label_at: int  # which of them is the label used


RELEASES = {
    "cifar10": Release(
        "batches.meta.txt",
        {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test": ("test_batch.bin",)},
        1,
        0,
    ),
    "cifar100": Release("fine_label_names.txt", {"train": ("train.bin",), "test": ("test.bin",)}, 2, 1),
    "stl10": Release("class_names.txt", {"train": ("train_X.bin",), "test": ("test_X.bin",)}, 0, 0),
}
# name -> split -> the list files of its images
LISTED = {
    "pets": {"train": ("annotations/trainval.txt",), "test": ("annotations/test.txt",)},
    "dtd": {"train": ("labels/train1.txt", "labels/val1.txt"), "test": ("labels/test1.txt",)},
    "food101": {"train": ("meta/train.txt",), "test": ("meta/test.txt",)},
    "flowers102": {"train": ("imagelabels.mat", "setid.mat"), "test": ()},  # the files read: see _flowers_images
}
# Flowers-102's splits in setid.mat: train = trnid + valid, test = tstid.
FLOWERS_SPLITS = {"train": ("trnid", "valid"), "test": ("tstid",)}
CIFAR_SIDE = 32
STL_SIDE = 96


def class_names(source: Path, release: Release) -> list[str]:
    return [
        line.strip() for line in (source / release.names_file).read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def cifar_records(path: Path, release: Release) -> Iterator[tuple[int, npt.NDArray[np.uint8]]]:
    """(label, uint8 (32, 32, 3) RGB) for each record of a CIFAR binary file."""
    import numpy as np

    record = release.label_bytes + 3 * CIFAR_SIDE * CIFAR_SIDE
    raw = np.fromfile(path, dtype=np.uint8)
    rows = raw.reshape(-1, record)  # (N, label bytes + 3072)
    pixels = rows[:, release.label_bytes :].reshape(-1, 3, CIFAR_SIDE, CIFAR_SIDE).transpose(0, 2, 3, 1)  # (N, H, W, 3)
    for label, picture in zip(rows[:, release.label_at], pixels, strict=True):
        yield int(label), np.ascontiguousarray(picture)


def stl_records(path: Path) -> Iterator[tuple[int, npt.NDArray[np.uint8]]]:
    """(label 0-9, uint8 (96, 96, 3) RGB) for each picture of an STL-10 X file and its y file."""
    import numpy as np

    labels = np.fromfile(path.with_name(path.name.replace("_X", "_y")), dtype=np.uint8)
    # Stored column-major per channel: (N, 3, W, H) -> (N, H, W, 3).
    pixels = np.fromfile(path, dtype=np.uint8).reshape(-1, 3, STL_SIDE, STL_SIDE).transpose(0, 3, 2, 1)
    for label, picture in zip(labels, pixels, strict=True):
        yield int(label) - 1, np.ascontiguousarray(picture)


def write_image_folders(name: str, source: Path, target: Path) -> dict[str, int]:
    """Write target/<split>/<class>/<number>.png for each picture of a release; images per split."""
    from PIL import Image

    release = RELEASES[name]
    names = class_names(source, release)
    written: dict[str, int] = {}
    for split, files in release.splits.items():
        count = 0
        for file in files:
            records = stl_records(source / file) if name == "stl10" else cifar_records(source / file, release)
            for label, picture in records:
                folder = target / split / names[label]
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(picture).save(folder / f"{count:05d}.png")
                count += 1
        written[split] = count
    return written


def listed_images(name: str, source: Path) -> Iterator[tuple[str, str, Path, Path]]:
    """(split, class, image file, the file that lists it) for each image a Pets, DTD, Food-101 or
    Flowers-102 release lists."""
    if name == "flowers102":
        yield from _flowers_images(source)
        return
    for split, list_files in LISTED[name].items():
        for list_file in list_files:
            for line in (source / list_file).read_text(encoding="utf-8").splitlines():
                entry = line.split()[0] if line.strip() and not line.startswith("#") else ""
                if not entry:
                    continue
                if name == "pets":
                    yield split, entry.rsplit("_", 1)[0], source / "images" / f"{entry}.jpg", source / list_file
                else:  # DTD: texture/file.jpg; Food-101: dish/number, the .jpg left out
                    image = source / "images" / (entry if name == "dtd" else f"{entry}.jpg")
                    yield split, entry.split("/", 1)[0], image, source / list_file


def _flowers_images(source: Path) -> Iterator[tuple[str, str, Path, Path]]:
    # MATLAB files: SciPy reads them (it comes with the evaluate extra, as scikit-learn's dependency).
    from scipy.io import loadmat

    names = list(json.loads((CLASSES_DIR / "flowers102.json").read_text(encoding="utf-8")))  # label 1 first
    labels = loadmat(source / "imagelabels.mat")["labels"].ravel()  # (8189,) labels 1-102, by image id - 1
    sets = loadmat(source / "setid.mat")
    for split, keys in FLOWERS_SPLITS.items():
        for key in keys:
            for image_id in sets[key].ravel():
                image = source / "jpg" / f"image_{int(image_id):05d}.jpg"
                yield split, names[int(labels[image_id - 1]) - 1], image, source / "setid.mat"


def link_listed(name: str, source: Path, target: Path) -> dict[str, int]:
    """Link (or copy) target/<split>/<class>/<file> for each image the release lists; images per split."""
    written: dict[str, int] = {}
    for split, label, image, _ in listed_images(name, source):
        folder = target / split / label
        folder.mkdir(parents=True, exist_ok=True)
        destination = folder / image.name
        if not destination.exists():
            try:
                os.link(image, destination)
            except OSError:  # another file system, or one without hard links
                shutil.copyfile(image, destination)
        written[split] = written.get(split, 0) + 1
    return written
