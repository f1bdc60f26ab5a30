"""Start-up follows the layers: what does not encode or search imports neither torch nor faiss."""

from __future__ import annotations

import ast
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from indexer.build import BuildOptions, build_index

from .helpers import REPO_ROOT

# Runs a module as `python -m` would, then reports which heavy libraries it had imported.
REPORT_HEAVY_IMPORTS = """
import atexit, runpy, sys
atexit.register(lambda: print("heavy:", sorted({heavy!r} & set(sys.modules)), file=sys.stderr))
sys.argv = {argv!r}
runpy.run_module({module!r}, run_name="__main__")
"""


def heavy_imports(
    module: str, *args: str, heavy: tuple[str, ...] = ("torch", "faiss"), env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess, str]:
    """Run `python -m module args` (with `env` added to the environment); which of the `heavy`
    packages it imported, as "heavy: [...]"."""
    code = REPORT_HEAVY_IMPORTS.format(argv=[module, *args], module=module, heavy=set(heavy))
    environment = {**os.environ, **(env or {})}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, env=environment
    )
    report = next(line for line in run.stderr.splitlines() if line.startswith("heavy:"))
    return run, report


def test_the_light_modules_import_neither_torch_nor_faiss():
    # First what an unchanged re-run reads (no Pillow either), then the rest, decoding workers included.
    code = (
        "import sys, search.store.catalog, search.store.records, search.images.facts, search.images.formats, "
        "search.store.reads, search.settings, indexer.plan, indexer.scan; pillow = 'PIL' in sys.modules; "
        "import search, search.constants, search.paths, search.errors, search.i18n, search.cli, search.commands, "
        "search.store, "
        "search.clip.hub, search.clip.folder, search.clip.config, search.images, search.images.decode, "
        "indexer.build, indexer.decode, indexer.engines, indexer.errors, indexer.watch, ruphoto.__main__, "
        "indexer.search_cli, search.query.language, search.query.request, search.query.results, "
        "search.classify.zeroshot, search.classify.probe, search.classify.metrics, search.classify.features, "
        "search.classify.tag_vocabulary, search.classify.tagging, search.classify.category, search.labels.results, "
        "indexer.label, "
        "search.evaluate.cli, search.evaluate.data, search.evaluate.runs, search.evaluate.prepare; "
        "print(sorted({'torch', 'faiss'} & set(sys.modules)), pillow)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[] False"


def test_listing_the_models_loads_no_torch():
    run, report = heavy_imports("search", "models")
    assert run.returncode == 0 and "ruclip-vit-base-patch32-384 (default)" in run.stdout
    assert report == "heavy: []"


def test_an_unchanged_rerun_loads_no_model_and_no_faiss(tmp_path: Path, monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    for source in sorted((REPO_ROOT / "data" / "demo" / "photos" / "2023 лето").glob("*.jpg"))[:3]:
        shutil.copyfile(source, photos / source.name)
    index = tmp_path / "index"
    # A cache folder of its own: the first build computes the image suffixes (with Pillow) and caches
    # them there, so the rerun below reads them without importing Pillow.
    cache = {"RUPHOTO_CACHE": str(tmp_path / "cache")}
    monkeypatch.setenv("RUPHOTO_CACHE", cache["RUPHOTO_CACHE"])
    build_index(photos, BuildOptions(index_dir=index, model="demo", device="cpu", workers=1, progress=False))
    with sqlite3.connect(index / "index.sqlite") as db:  # the label stage ran: the rerun tells it apart
        assert db.execute("SELECT count(*) FROM photo_tags").fetchone()[0] >= 3

    # The quick path reads index.sqlite through sqlite3 alone: SQLAlchemy, numpy and Pillow stay unloaded too.
    run, report = heavy_imports(
        "indexer",
        "build",
        str(photos),
        "--index",
        str(index),
        "--quiet",
        heavy=("torch", "faiss", "sqlalchemy", "numpy", "PIL"),
        env=cache,
    )
    assert run.returncode == 0, run.stderr
    assert "unchanged 3, new 0" in run.stdout and "3 images searchable" in run.stdout
    assert "stage rates" not in run.stdout  # nothing was decoded: no rates to compare
    assert report == "heavy: []"

    # Another tag threshold: the tags depend on it, so the run leaves the quick path to tag again.
    # On a CPU the model is its ONNX export (exported by the first build): ONNX Runtime, not torch.
    with_onnx = ("torch", "faiss", "onnxruntime")
    run, report = heavy_imports(
        "indexer",
        "build",
        str(photos),
        "--index",
        str(index),
        "--quiet",
        heavy=with_onnx,
        env={**cache, "RUPHOTO_TAG_THRESHOLD": "0.5"},
    )
    assert run.returncode == 0, run.stderr
    assert "onnxruntime" in report and "torch" not in report

    (photos / "new.jpg").write_bytes((photos / sorted(p.name for p in photos.iterdir())[0]).read_bytes() + b"\0")
    run, report = heavy_imports(
        "indexer", "build", str(photos), "--index", str(index), "--quiet", heavy=with_onnx, env=cache
    )
    assert run.returncode == 0 and "new 1" in run.stdout, run.stderr
    assert report == "heavy: ['faiss', 'onnxruntime']"  # the same probe sees them when there is work
    (photos / "newer.jpg").write_bytes((photos / "new.jpg").read_bytes() + b"\0")
    run, report = heavy_imports(
        "indexer",
        "build",
        str(photos),
        "--index",
        str(index),
        "--quiet",
        heavy=with_onnx,
        env={**cache, "RUPHOTO_NO_ONNX": "1"},
    )
    assert run.returncode == 0 and "new 1" in run.stdout, run.stderr
    assert report == "heavy: ['faiss', 'torch']"  # RUPHOTO_NO_ONNX: torch, as before


# --- The import contract: clients through the public API, no import circles ----------------------
# Read from the source (ast), not by importing, so that a module that is never imported in a test
# is checked too, and imports under `if TYPE_CHECKING:` count like any other.

LAYERED_PACKAGES = ("search", "indexer", "ui")
# What the page and the CLI may import of `search`: its root names (search/__init__.py's lazy
# table), the decoding package's root names (search/images/__init__.py's, for the page's uploads and
# thumbnails) and the light modules every client shares.
CLIENT_MODULES_ALLOWED = {
    "search",
    "search.images",
    "search.errors",
    "search.constants",
    "search.paths",
    "search.cli",
    "search.commands",
    "search.settings",
    "search.i18n",
}
CLI_MODULES = ("indexer/__main__.py", "indexer/search_cli.py")


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    path = REPO_ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path, *, in_functions: bool, module: str | None = None) -> list[tuple[str, int]]:
    """(module imported, line) for each import in `path`. `from pkg import name` counts as an import
    of pkg.name when that is a module of this project, else of pkg. Relative imports are resolved.
    in_functions=False leaves out imports inside function bodies (imported when called, not loaded
    with the module); imports under `if TYPE_CHECKING:`, try and class bodies are always in."""
    module = module or _module_of(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) and not in_functions:
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in child.names:
                    whole = f"{base}.{alias.name}"
                    found.append((whole if _is_module(whole) else base, child.lineno))
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return found


def _private_search_imports(path: Path, allowed: set[str], module: str | None = None) -> list[str]:
    return [
        f"{path.name}:{line} imports {name}"
        for name, line in _imports(path, in_functions=True, module=module)  # a lazy import in a function counts too
        if (name == "search" or name.startswith("search.")) and name not in allowed
    ]


def _client_files() -> list[str]:
    page = sorted(str(path.relative_to(REPO_ROOT)) for path in (REPO_ROOT / "ui").rglob("*.py"))
    return [*page, *CLI_MODULES]


def test_the_page_and_the_cli_use_only_the_public_api_of_search():
    broken = []
    for relative in _client_files():
        broken += [
            f"{relative}: {entry}" for entry in _private_search_imports(REPO_ROOT / relative, CLIENT_MODULES_ALLOWED)
        ]
    assert not broken, "import these through `search` (add them to search/__init__.py's _EXPORTS):\n" + "\n".join(
        broken
    )


def test_the_contract_check_sees_a_private_import(tmp_path):
    # The check above must be able to fail: a client file with a private import, as a module would
    # write it at the top, in a TYPE_CHECKING block and inside a function.
    client = tmp_path / "probe.py"
    client.write_text(
        "from typing import TYPE_CHECKING\nfrom search import Hit\nfrom search.errors import RuClipError\n"
        "if TYPE_CHECKING:\n    from search.store import IndexStore\n"
        "def f():\n    import search.clip.encoder\n    from search import query\n",
        encoding="utf-8",
    )
    found = _private_search_imports(client, CLIENT_MODULES_ALLOWED, module="ui.probe")
    assert [entry.split(" imports ")[1] for entry in found] == ["search.store", "search.clip.encoder", "search.query"]


def _import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports when it is loaded (function-level imports excluded:
    they run when called, after every module involved has loaded, and are how a light module
    defers a heavy one). An import of a.b.c is an edge to a.b.c alone: the packages a and a.b are
    loaded on the way, but a package's own imports are its edges, so circles through them show."""
    graph: dict[str, set[str]] = {}
    for package in LAYERED_PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            if "demo_model" in path.parts:
                continue
            graph[_module_of(path)] = {
                name
                for name, _ in _imports(path, in_functions=False)
                if name.split(".")[0] in LAYERED_PACKAGES and _is_module(name)
            }
    return graph


def _a_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of the graph (its modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                circle = walk(target)
                if circle:
                    return circle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            circle = walk(module)
            if circle:
                return circle
    return None


def test_no_import_circle_between_the_modules_of_search_indexer_and_ui():
    circle = _a_circle(_import_graph())
    assert circle is None, "import circle (TYPE_CHECKING imports included): " + " -> ".join(circle)


def test_the_circle_check_finds_a_circle():
    assert _a_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _a_circle({"a": {"b"}, "b": {"c"}, "d": {"a", "c"}}) is None


# What each layer may not import (docs/ARCHITECTURE.md's table), imports inside functions included.
# A forbidden prefix covers the module and everything under it; ALLOWED_EXCEPTIONS lists the few
# crossings the layering permits on purpose.
FORBIDDEN_IMPORTS = {
    "search/images": ("search.clip", "search.store", "search.query", "indexer", "ui", "training"),
    "search/clip": ("search.store", "search.query", "indexer", "ui", "training"),
    "search/store": ("search.clip", "search.query", "search.labels", "indexer", "ui", "training"),
    "search/query": ("indexer", "ui", "training"),
    "search/classify": (
        "search.store",
        "search.query",
        "search.labels",
        "search.evaluate",
        "indexer",
        "ui",
        "training",
    ),
    "search/labels": ("search.query", "search.evaluate", "indexer", "ui", "training"),
    "search/evaluate": ("search.store", "search.query", "indexer", "ui", "training"),
    "search/ocr": (
        "search.clip",
        "search.store",
        "search.query",
        "search.labels",
        "search.classify",
        "search.evaluate",
        "indexer",
        "ui",
        "training",
    ),
    "indexer": ("ui", "training"),
    "ui": ("indexer", "training"),
    "training": ("indexer", "ui"),
}
# The store fingerprints weights files (which model built an index) with the checkpoint folder's
# torch-free helper.
ALLOWED_EXCEPTIONS = {"search.clip.folder"}


def _layer_violations(files: dict[Path, str], forbidden: tuple[str, ...]) -> list[str]:
    """`files`: path -> its module name."""
    found = []
    for path, module in files.items():
        for name, line in _imports(path, in_functions=True, module=module):
            crosses = any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden)
            if crosses and name not in ALLOWED_EXCEPTIONS:
                found.append(f"{module}:{line} imports {name}")
    return found


def test_each_layer_imports_only_the_layers_below_it():
    broken = []
    for folder, forbidden in FORBIDDEN_IMPORTS.items():
        files = {path: _module_of(path) for path in sorted((REPO_ROOT / folder).rglob("*.py"))}
        broken += _layer_violations(files, forbidden)
    assert not broken, "see docs/ARCHITECTURE.md, Packages:\n" + "\n".join(broken)


def test_tesserocr_is_imported_only_inside_the_ocr_engines_functions():
    engine = REPO_ROOT / "search" / "ocr" / "engine.py"
    at_import, elsewhere = [], []
    for folder in ("search", "indexer", "ui", "ruphoto", "training"):
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            at_import += [f"{path}:{line}" for name, line in _imports(path, in_functions=False) if name == "tesserocr"]
            if path != engine:
                elsewhere += [
                    f"{path}:{line}" for name, line in _imports(path, in_functions=True) if name == "tesserocr"
                ]
    assert not at_import and not elsewhere, at_import + elsewhere
    assert any(name == "tesserocr" for name, _line in _imports(engine, in_functions=True))  # the check sees it


def test_the_layer_check_sees_a_crossing(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from ..errors import ImageLoadError\ndef f():\n    from ..store import IndexStore\n")
    found = _layer_violations({probe: "search.images.probe"}, FORBIDDEN_IMPORTS["search/images"])
    assert found == ["search.images.probe:3 imports search.store"]
