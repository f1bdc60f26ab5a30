"""A plain (non-editable) install carries the demo model: `pip install .`, then `--model demo` works
from any working directory, with the package's own copy of the model.

The wheel is built from a copy of the sources (the files git tracks or would track), so that the build
neither writes build/ and *.egg-info into the working tree nor picks up a stale build/ folder. It is
installed with pip into a fresh venv that has no pip, no system site-packages and no editable install
of this repository; the heavy dependencies (torch, faiss, ...) are borrowed from the project's venv by
a .pth line added after the install, which puts that folder on sys.path without running its own .pth
files (so the editable finder that maps `search` to the repository is never installed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_PHOTOS = REPO_ROOT / "data" / "demo" / "photos"
DEMO_MODEL_FILES = ("config.json", "pytorch_model.bin", "bpe.model", "training.json")
# Everything that could point the installed package back at the repository, or elsewhere.
SCRUBBED_ENV = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "RUPHOTO_DATA",
    "RUPHOTO_MODEL",
    "RUCLIP_MODEL",
    "VIRTUAL_ENV",
)

pytestmark = pytest.mark.slow


def _source_files() -> list[Path]:
    """The repository's files as a fresh clone (plus uncommitted work) holds them: .gitignore'd ones left out."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("needs a git checkout of the repository")
    return [Path(os.fsdecode(name)) for name in listed.split(b"\0") if name]


def _copy_sources(destination: Path) -> Path:
    for relative in _source_files():
        source = REPO_ROOT / relative
        if source.is_file():  # a tracked file deleted in the working tree is not part of the build
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def clean_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in SCRUBBED_ENV}
    env["HF_HUB_OFFLINE"] = "1"  # the demo model must not need the network
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory, clean_env) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = _copy_sources(work / "src")
    out = work / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out)]
        + [str(source)],
        cwd=work,
        env=clean_env,
        timeout=300,
    )
    (built,) = out.glob("ruphoto_search-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(tmp_path_factory, wheel, clean_env) -> tuple[Path, Path]:
    """(python of a fresh venv with the wheel installed, its site-packages)."""
    venv = tmp_path_factory.mktemp("venv") / "fresh"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv.parent, env=clean_env)
    python = venv / "bin" / "python"
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], venv.parent, clean_env
        ).stdout.strip()
    )
    # pip of the project's venv, installing into the fresh one: before the .pth below exists, that venv
    # sees nothing of the project's, so pip can neither find nor touch the editable install there.
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        cwd=venv.parent,
        env=clean_env,
        timeout=300,
    )
    dependencies = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "zz_project_dependencies.pth").write_text("".join(f"{path}\n" for path in dependencies), encoding="utf-8")
    return python, site


def test_wheel_carries_the_demo_model_and_nothing_of_the_repository(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in DEMO_MODEL_FILES:
        assert f"search/clip/demo_model/{name}" in names
    assert "search/paths.py" in names and "indexer/__main__.py" in names
    # python -m search evaluate's class names and templates (package data, like the demo model)
    assert {"search/evaluate/classes/cifar10.json", "search/evaluate/templates/ru.txt"} <= names
    # the zero-shot tags' vocabulary and templates, and the demo model's own vocabulary
    assert {"search/classify/tags/ru.txt", "search/classify/tags/templates.txt"} <= names
    assert "search/clip/demo_model/tags.txt" in names
    top_level = {name.split("/", 1)[0] for name in names}
    assert not top_level & {"tests", "data", "benchmarks", "docs"}, sorted(top_level)


def test_installed_package_is_the_wheel_not_the_repository(installed, clean_env, tmp_path):
    python, site = installed
    probe = (
        "import json, search, indexer, search.paths as p; "
        "print(json.dumps([search.__file__, indexer.__file__, str(p.demo_model_dir())]))"
    )
    search_file, indexer_file, demo_dir = json.loads(_run([str(python), "-c", probe], tmp_path, clean_env).stdout)
    for found in (search_file, indexer_file, demo_dir):
        assert Path(found).is_relative_to(site), f"{found} is not from the installed wheel in {site}"
    assert Path(demo_dir) == site / "search" / "clip" / "demo_model"


def test_demo_build_and_search_from_another_folder(installed, clean_env, tmp_path):
    python, site = installed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    index = tmp_path / "index"
    build = [str(python), "-m", "indexer", "build", str(DEMO_PHOTOS), "--model", "demo"]
    build += ["--index", str(index), "--device", "cpu", "--quiet"]
    built = _run(build, elsewhere, clean_env, timeout=300)
    assert "failed 0" in built.stdout, built.stdout

    found = _run(
        [str(python), "-m", "indexer", "search", "красная звезда", "--index", str(index), "--json"],
        elsewhere,
        clean_env,
    )
    hits = [json.loads(line) for line in found.stdout.splitlines() if line.strip()]
    assert hits, found.stdout + found.stderr
    assert all(Path(hit["path"]).is_relative_to(DEMO_PHOTOS) for hit in hits)
    assert list(elsewhere.iterdir()) == [], "the build wrote into the working directory"


def test_wheel_carries_the_russian_catalogue(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"search/locale/ru/LC_MESSAGES/ruphoto.mo", "search/locale/ru/LC_MESSAGES/ruphoto.po"} <= names


def test_installed_package_speaks_russian_from_its_own_catalogue(installed, clean_env, tmp_path):
    python, site = installed
    no_locale = {
        key: value for key, value in clean_env.items() if key not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
    }
    probe = "from search import i18n; print(i18n.LOCALE_DIR); print(i18n._('interrupted'))"
    where, word = _run([str(python), "-c", probe], tmp_path, no_locale).stdout.splitlines()
    assert Path(where).is_relative_to(site) and word == "прервано"
