"""Test data too big to commit, downloaded once and cached: Pillow's own test images.

`pillow_test_images()` runs `pip download pillow==<installed version> --no-binary :all: --no-deps`
(the source archive, ~47 MB) and extracts its Tests/images/ folder (~1,060 files, ~60 MB) into
$RUPHOTO_TEST_DATA, else $XDG_CACHE_HOME/ruphoto-search/pillow-corpus (~/.cache when XDG_CACHE_HOME
is unset), outside the clone; later runs find it there. Only the test marked `corpus` needs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path

TEST_DATA_ENV_VAR = "RUPHOTO_TEST_DATA"
DOWNLOAD_TIMEOUT_S = 600
_COMPLETE = ".complete"  # written last: a half-extracted folder is never taken for the corpus


class CorpusUnavailable(Exception):
    """The download or the extraction failed; the message says why."""


def corpus_dir() -> Path:
    configured = os.environ.get(TEST_DATA_ENV_VAR, "").strip()
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(cache).expanduser() if cache else Path.home() / ".cache") / "ruphoto-search" / "pillow-corpus"


def pillow_test_images() -> Path:
    """The Tests/images folder of the installed Pillow's source release, downloaded if needed."""
    version = metadata.version("pillow")
    target = corpus_dir() / f"pillow-{version}-images"
    if (target / _COMPLETE).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        archive = _download_sdist(version, Path(scratch))
        extracted = Path(scratch) / "images"
        _extract_images(archive, extracted)
        (extracted / _COMPLETE).write_text(f"pillow {version} Tests/images\n", encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        extracted.rename(target)
    return target


def _download_sdist(version: str, folder: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", f"pillow=={version}", "--no-binary", ":all:"]
    command += ["--no-deps", "--quiet", "-d", str(folder)]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CorpusUnavailable(f"pip download pillow=={version} failed: {exc}") from None
    archives = sorted(folder.glob("pillow-*.tar.gz"))
    if run.returncode != 0 or not archives:
        tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no archive"]
        raise CorpusUnavailable(f"pip download pillow=={version} --no-binary :all: failed: {tail[0]}")
    return archives[0]


def _extract_images(archive: Path, destination: Path) -> None:
    """Only <top>/Tests/images/**, as plain files and folders (the data filter refuses links out)."""
    destination.mkdir()
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                parts = Path(member.name).parts
                if len(parts) > 3 and parts[1:3] == ("Tests", "images") and (member.isfile() or member.isdir()):
                    member.name = str(Path(*parts[3:]))
                    tar.extract(member, destination, filter="data")
    except (OSError, tarfile.TarError) as exc:
        raise CorpusUnavailable(f"could not extract {archive.name}: {exc}") from None
