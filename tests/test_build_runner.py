"""The build's wiring, in-process and without a model: the options and the engine spec, the stage
times, the one photo filter of the scan and the watcher, the build's typed errors, the Settings
read from the environment, and the `ruphoto` console script."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import os
import re
import tomllib
from pathlib import Path

import pytest

from indexer.build import FAISS_CHECKPOINT_MIN_IMAGES, BuildOptions, build_index
from indexer.engines import EngineKind, EngineSpec
from indexer.errors import BadOptionError, PhotoFolderError, PhotoFolderProblem
from indexer.scan import PhotoFilter, scan_folder
from indexer.stages import DECODE, ENCODE, PLAN, READ, SCAN, WRITE, StageTimes
from indexer.watch import WatchOptions
from search.commands import script_prog
from search.constants import DECODE_TIMEOUT_S
from search.errors import IndexStoreError
from search.settings import Settings, SettingsError

from .helpers import REPO_ROOT

ENVIRONMENT_READ = re.compile(r"os\.environ\.get\(|os\.getenv\(|os\.environ\[")  # a write (setdefault) is no read

# --- options and the engine spec ----------------------------------------------------------------


def test_build_options_are_frozen_validated_and_give_the_engine_its_spec(tmp_path: Path):
    options = BuildOptions(index_dir=tmp_path, device="cpu", workers=3, batch_size=8, fast_jpeg=False, ray="auto")
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.workers = 1  # type: ignore[misc]
    spec = options.engine
    assert spec == EngineSpec(device="cpu", workers=3, batch_size=8, fast_jpeg=False, ray_address="auto")
    assert spec.kind_for(None) is EngineKind.RAY
    assert dataclasses.replace(spec, ray_address=None).kind_for(None) is EngineKind.LOCAL
    assert BuildOptions().checkpoint_min_images == FAISS_CHECKPOINT_MIN_IMAGES
    for bad, named in (
        (dict(workers=0), "workers"),
        (dict(batch_size=0), "batch_size"),
        (dict(checkpoint_min_images=-1), "checkpoint_min_images"),
        (dict(timeout_s=0), "timeout_s"),
        (dict(device="gpu"), "device"),
        (dict(precision="fp8"), "precision"),
        (dict(ray=" "), "ray"),
    ):
        with pytest.raises(BadOptionError, match=named):
            BuildOptions(**bad)


def test_watch_options_hold_a_build_and_are_validated(tmp_path: Path):
    build = BuildOptions(index_dir=tmp_path)
    options = WatchOptions(build, settle_s=0.5)
    assert options.build is build and options.longest_wait_s == 30.0
    with pytest.raises(BadOptionError, match="rescan_every_s"):
        WatchOptions(build, rescan_every_s=0)


def test_no_engine_imports_the_build_nor_the_watcher():
    """Engines are built from an EngineSpec: none of them may import build.py (TYPE_CHECKING included),
    which was the build.py <-> engines/cluster.py circle."""
    offenders = []
    for path in sorted((REPO_ROOT / "indexer" / "engines").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                if module in ("..build", "..watch", "indexer.build", "indexer.watch"):
                    offenders.append(f"{path.name}: from {module} import ...")
    assert offenders == []


def test_every_decode_timeout_default_is_the_one_named_constant():
    """The build, the engine spec, both engines and the decode pool each take a timeout_s: a default
    written as a number in one of them would silently differ from the others once it changes."""
    defaults = []
    for path in sorted((REPO_ROOT / "indexer").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "timeout_s":
                defaults.append((path.name, node.value))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                named = [*node.args.posonlyargs, *node.args.args]
                pairs = zip(named[len(named) - len(node.args.defaults) :], node.args.defaults, strict=True)
                pairs = [*pairs, *zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True)]
                defaults += [(path.name, value) for arg, value in pairs if arg.arg == "timeout_s" and value is not None]
    assert len(defaults) >= 5  # build, the engine spec, the local and GPU engines, the decode pool
    named = {name: ast.unparse(value) for name, value in defaults if ast.unparse(value) != "DECODE_TIMEOUT_S"}
    assert named == {}
    assert BuildOptions().timeout_s == EngineSpec().timeout_s == DECODE_TIMEOUT_S


# --- stage times ---------------------------------------------------------------------------------


def test_the_stage_line_names_every_stage_that_ran_in_the_data_flows_order():
    stages = StageTimes()
    stages[WRITE].add(10, 0.1)
    stages[ENCODE].add(10, 1.0, worker="encoder cuda")
    stages[DECODE].add(10, 1.0, worker="nvJPEG cuda")
    stages[READ].add(10, 0.5, worker="reader 0")
    stages[READ].workers.add("reader 1")
    with stages.timed(SCAN) as scanned:
        scanned.items = 10
    stages[PLAN]  # asked for, handled nothing: not shown
    line = stages.line()
    assert line is not None
    names = [part.split()[0] for part in line.removeprefix("stage rates while busy: ").split(", ") if "/s" in part]
    assert names == ["scan", "read", "decode", "encode", "write"]
    assert "read 40.0 img/s (2 workers × 20.0)" in line and "write 100 rows/s" in line
    assert StageTimes().line() is None


# --- which files are photos ------------------------------------------------------------------------


def test_the_watcher_judges_paths_by_the_scans_own_filter(tmp_path: Path):
    root, index = tmp_path / "photos", tmp_path / "photos" / "index"
    for name in ("a.jpg", "B.JPG", "sub/c.png", ".hidden/d.jpg", "sub/.e.jpg", "index/f.jpg", "notes.txt", "g"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    suffixes = {".jpg", ".png"}
    photos = PhotoFilter.of(root, suffixes, skip=[index])
    found = {found.path for found in scan_folder(root, suffixes, skip=[index]).files}
    every_file = {str(path) for path in root.rglob("*") if path.is_file()}
    assert {path for path in every_file if photos.looks_at(path, folder=False)} == found
    assert found == {str(root / "a.jpg"), str(root / "B.JPG"), str(root / "sub" / "c.png")}
    assert photos.looks_at(str(root / "sub"), folder=True)
    assert not photos.looks_at(str(root / ".hidden"), folder=True)
    assert not photos.looks_at(str(index), folder=True)
    assert not photos.looks_at(str(tmp_path / "elsewhere.jpg"), folder=False)


# --- typed errors ----------------------------------------------------------------------------------


def test_a_missing_or_unreadable_photo_folder_is_a_photo_folder_error_not_the_stores(tmp_path: Path):
    with pytest.raises(PhotoFolderError) as missing:
        build_index(tmp_path / "nowhere", BuildOptions(index_dir=tmp_path / "index"))
    assert missing.value.reason is PhotoFolderProblem.MISSING and "nowhere" in str(missing.value)
    assert not isinstance(missing.value, IndexStoreError)
    assert not (tmp_path / "index").exists()
    if os.geteuid() != 0:  # root reads any folder
        locked = tmp_path / "locked"
        locked.mkdir(mode=0)
        try:
            with pytest.raises(PhotoFolderError) as unreadable:
                build_index(locked, BuildOptions(index_dir=tmp_path / "index"))
            assert unreadable.value.reason is PhotoFolderProblem.UNREADABLE and "permissions" in str(unreadable.value)
        finally:
            locked.chmod(0o755)


# --- Settings ----------------------------------------------------------------------------------------


def test_settings_come_from_the_environment_under_one_prefix_with_the_old_names_accepted(tmp_path: Path):
    home = Settings.from_environment({"HOME": str(tmp_path)})
    assert home.data_dir == Path("data") and not home.data_dir_set
    assert home.model == "ruclip-vit-base-patch32-384" and home.model_source == "the default"
    assert home.device == "auto" and home.prepack and home.tune_malloc
    assert home.hub_endpoint is None and not home.hub_offline

    set_ = Settings.from_environment(
        {
            "RUPHOTO_DATA": str(tmp_path / "d"),
            "RUPHOTO_MODEL": "demo",
            "RUCLIP_MODEL": "ignored: the new name wins",
            "RUPHOTO_DEVICE": "CPU",
            "XDG_CACHE_HOME": str(tmp_path / "xdg"),
            "RUCLIP_NO_PREPACK": "1",
            "RUPHOTO_DEFAULT_MALLOC": "0",  # 0 is "not set"
            "HF_ENDPOINT": "http://127.0.0.1:9",
            "HF_HUB_OFFLINE": "true",
        }
    )
    assert set_.data_dir == tmp_path / "d" and set_.data_dir_set
    assert set_.model == "demo" and set_.model_source == "$RUPHOTO_MODEL"
    assert set_.device == "cpu" and set_.cache_dir == tmp_path / "xdg" / "ruphoto-search"
    assert not set_.prepack and set_.tune_malloc
    assert set_.hub_endpoint == "http://127.0.0.1:9" and set_.hub_offline

    old = Settings.from_environment({"RUCLIP_MODEL": "demo", "RUPHOTO_CACHE": str(tmp_path / "c")})
    assert old.model == "demo" and old.model_source == "$RUCLIP_MODEL"
    assert old.cache_dir == tmp_path / "c"

    wrong = Settings.from_environment({"RUPHOTO_DEVICE": "gpu"})
    assert wrong.data_dir == Path("data")  # a wrong device spoils nothing else
    with pytest.raises(SettingsError, match="RUPHOTO_DEVICE='gpu'.*auto, cpu, cuda"):
        _ = wrong.device


def test_only_settings_reads_the_environment():
    """Every variable of ours (and XDG_CACHE_HOME, RAY_ADDRESS, the hub's) is read in search/settings.py."""
    readers = []
    for package in ("search", "indexer", "ui", "training", "ruphoto"):
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            if path.name == "settings.py" and path.parent.name == "search":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if (
                    "os.environ.get(" in line or "os.getenv(" in line or "os.environ[" in line
                ) and "setdefault" not in line:
                    readers.append(f"{path.relative_to(REPO_ROOT)}:{number}")
    assert readers == []


# --- the console script ------------------------------------------------------------------------------


def test_the_console_script_resolves_and_lists_every_command(capsys):
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    module, _, function = scripts["ruphoto"].partition(":")
    main = getattr(importlib.import_module(module), function)
    with pytest.raises(SystemExit) as helped:
        main(["--help"])
    assert helped.value.code == 0
    listed = capsys.readouterr().out
    assert listed.startswith(f"usage: {script_prog()} ")  # ruphoto, or .venv/bin/ruphoto off the PATH
    for command in ("build", "watch", "stats", "verify", "backup", "search", "duplicates", "ui"):
        assert f"\n    {command} " in listed or f"\n    {command}\n" in listed, command

    with pytest.raises(SystemExit) as ui_help:
        main(["ui", "--help"])
    assert ui_help.value.code == 0 and "--port" in capsys.readouterr().out


def test_the_console_script_runs_the_indexers_commands(tmp_path: Path, capsys):
    from ruphoto.__main__ import main

    assert main(["stats", "--index", str(tmp_path / "none")]) == 2  # no index there: the store's message
    assert "error:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["build"])
    assert usage.value.code == 2 and f"(see {script_prog()} build --help)" in capsys.readouterr().err
