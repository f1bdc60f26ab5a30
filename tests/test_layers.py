"""Start-up follows the layers: what does not encode or search imports neither torch nor faiss."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from indexer.build import BuildOptions, build_index

from .helpers import REPO_ROOT

# Runs a module as `python -m` would, then reports which heavy libraries it had imported.
REPORT_HEAVY_IMPORTS = """
import atexit, runpy, sys
atexit.register(lambda: print("heavy:", sorted({{"torch", "faiss"}} & set(sys.modules)), file=sys.stderr))
sys.argv = {argv!r}
runpy.run_module({module!r}, run_name="__main__")
"""


def heavy_imports(module: str, *args: str) -> tuple[subprocess.CompletedProcess, str]:
    code = REPORT_HEAVY_IMPORTS.format(argv=[module, *args], module=module)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    report = next(line for line in run.stderr.splitlines() if line.startswith("heavy:"))
    return run, report


def test_the_light_modules_import_neither_torch_nor_faiss():
    # First what an unchanged re-run reads (no Pillow either), then the rest, decoding workers included.
    code = (
        "import sys, search.store.catalog, search.store.records, search.images.facts, search.images.formats, "
        "search.store.reads, search.settings, indexer.plan, indexer.scan; pillow = 'PIL' in sys.modules; "
        "import search, search.constants, search.paths, search.errors, search.cli, search.store, "
        "search.clip.hub, search.clip.folder, search.clip.config, search.images, search.images.decode, "
        "indexer.build, indexer.decode, indexer.engines, indexer.errors, indexer.watch, ruphoto.__main__; "
        "print(sorted({'torch', 'faiss'} & set(sys.modules)), pillow)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[] False"


def test_listing_the_models_loads_no_torch():
    run, report = heavy_imports("search", "models")
    assert run.returncode == 0 and "ruclip-vit-base-patch32-384 (default)" in run.stdout
    assert report == "heavy: []"


def test_an_unchanged_rerun_loads_no_model_and_no_faiss(tmp_path: Path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for source in sorted((REPO_ROOT / "data" / "demo" / "photos" / "2023 лето").glob("*.jpg"))[:3]:
        shutil.copyfile(source, photos / source.name)
    index = tmp_path / "index"
    build_index(photos, BuildOptions(index_dir=index, model="demo", device="cpu", workers=1, progress=False))

    run, report = heavy_imports("indexer", "build", str(photos), "--index", str(index), "--quiet")
    assert run.returncode == 0, run.stderr
    assert "unchanged 3, new 0" in run.stdout and "3 images searchable" in run.stdout
    assert report == "heavy: []"

    (photos / "new.jpg").write_bytes((photos / sorted(p.name for p in photos.iterdir())[0]).read_bytes() + b"\0")
    run, report = heavy_imports("indexer", "build", str(photos), "--index", str(index), "--quiet")
    assert run.returncode == 0 and "new 1" in run.stdout, run.stderr
    assert report == "heavy: ['faiss', 'torch']"  # the same probe sees them when there is work
