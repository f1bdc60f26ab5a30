"""The README's first hour: its two commands (the Makefile), the commands CI takes from it, the
Quickstart and every Python block, run as written against the demo; every shell block is either run
here or listed with the reason it cannot be (test_every_shell_block_is_run_or_said_why_not).

The blocks run in a temporary folder holding a copy of data/demo/photos (their paths are relative:
data/demo/photos, data/demo-index), so the repository's own data/demo-index is never touched; its
`.venv/bin/ruphoto` and `.venv/bin/python` are this test's interpreter, running this checkout.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from search.paths import demo_index_dir

from .helpers import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
DEMO_PHOTOS = REPO_ROOT / "data" / "demo" / "photos"
VENV_SCRIPT = ".venv/bin/ruphoto"

needs_make = pytest.mark.skipif(
    shutil.which("make") is None and not os.environ.get("CI"), reason="make is not installed (CI installs it)"
)


def code_blocks(language: str) -> list[str]:
    """The README's fenced blocks of one language, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```$", README, flags=re.MULTILINE | re.DOTALL)


def section(title: str) -> str:
    """The README's text from a `## title` (or deeper) heading to the next heading of any level."""
    start = README.index(f" {title}\n")
    following = re.search(r"^#+ ", README[start + 1 :], flags=re.MULTILINE)
    return README[start : start + 1 + following.start()] if following else README[start:]


def bash_blocks(title: str) -> list[list[str]]:
    """The lines of each bash block under a heading, in order."""
    blocks = re.findall(r"^```bash\n(.*?)^```$", section(title), flags=re.MULTILINE | re.DOTALL)
    return [block.splitlines() for block in blocks]


def first_bash_block(title: str) -> list[str]:
    """The lines of the first bash block under a heading."""
    return bash_blocks(title)[0]


# ---- every shell block: run by a test below, or why it cannot run here ---------------------------------
# Keyed by the block's first line, so that a new or changed block fails the check until it is classified.

RUN_HERE = {
    ".venv/bin/ruphoto build data/demo/photos --index data/demo-index --model demo": (
        "test_the_quickstart_runs_as_written"
    ),
    ".venv/bin/ruphoto build ~/Pictures            # ruclip-vit-base-patch32-384 by default": (
        "test_the_own_photos_block_runs_as_written"
    ),
    ".venv/bin/ruphoto watch ~/Pictures        # build, then follow the folder until Ctrl-C (or SIGTERM)": (
        "test_the_watch_block_runs_as_written"
    ),
}
NOT_RUNNABLE_HERE = {
    "make demo    # installs the search into .venv if needed, indexes the offline demo, serves the page on "
    "http://localhost:8501": "it installs into the clone's .venv and serves until Ctrl-C: "
    "test_make_demo_builds_and_serves_the_demo_index checks what it runs, CI runs it on a fresh clone",
    "make install": "it installs into the clone's .venv (the network, minutes): CI runs it on a fresh clone, "
    "test_make_demo_after_make_test_installs_nothing and its neighbours check when it runs",
    "python3 -m venv .venv && .venv/bin/pip install torch==2.13.0 && .venv/bin/pip install cython setuptools wheel "
    "&& .venv/bin/pip install --no-build-isolation -e .": "a whole install (the network, minutes): "
    "test_the_readmes_manual_install_is_what_make_runtime_and_make_install_run compares it with make runtime",
    '.venv/bin/pip install --no-build-isolation -e ".[dev,cluster,ocr]" && .venv/bin/pip install --no-deps '
    "ruclip==0.0.2": "an install (the network, minutes): "
    "test_the_readmes_manual_install_is_what_make_runtime_and_make_install_run compares it with make install",
    "# on every node: the same install of this project (it ships its own code to the cluster; the libraries": (
        "it needs a Ray cluster of several machines and an NFS mount: tests/test_cluster.py builds on clusters "
        "it starts on this machine"
    ),
    "make test": "it is the suite this test belongs to (CI runs it on a fresh clone)",
    ".venv/bin/python -m search evaluate prepare cifar10 ~/datasets/cifar-10-batches-bin ~/datasets/cifar10": (
        "it needs CIFAR-10, a published model's weights and XTD-10: tests/test_evaluate.py runs every subcommand "
        "on generated photos with the demo model"
    ),
    ".venv/bin/python -m training demo-model          # rewrite search/clip/demo_model (seeded; writes "
    "training.json with its scores)": "it retrains the demo model for minutes and rewrites the repository's own "
    "search/clip/demo_model and data/demo/photos: tests/test_training.py runs each command at a small size",
}


def test_every_shell_block_is_run_or_said_why_not():
    fences = re.findall(r"^```(\w*)\n.*?^```$", README, flags=re.MULTILINE | re.DOTALL)  # each block's language
    assert set(fences) <= {"bash", "python", ""}  # a `sh` or `console` block would escape the check below
    assert fences.count("") == 1  # the tree under "Where things are", which is no command
    first_lines = [block.splitlines()[0] for block in code_blocks("bash")]
    unclassified = [line for line in first_lines if line not in RUN_HERE and line not in NOT_RUNNABLE_HERE]
    assert not unclassified, "run these README blocks in a test, or list why not in NOT_RUNNABLE_HERE"
    assert sorted(first_lines) == sorted([*RUN_HERE, *NOT_RUNNABLE_HERE])  # no entry for a block that is gone
    assert all(callable(globals().get(name)) for name in RUN_HERE.values())


def test_the_readmes_commands_are_the_console_script_or_the_venvs():
    # Outside .venv, a bare `python -m indexer` is "python: command not found" (Debian) or another
    # Python's ModuleNotFoundError: every command line of a block names the venv's script or interpreter.
    for block in code_blocks("bash"):
        for line in block.splitlines():
            command = re.sub(r"^\w+\$\s+", "", line)  # the cluster block's `head$` prompts
            assert not re.match(r"(python|ruphoto|streamlit|pip) ", command), line
    assert "source .venv/bin/activate" in README and 'export PATH="$PWD/.venv/bin:$PATH"' in README
    scripts = re.search(r"^\[project\.scripts\]\n(.*?)^\[", (REPO_ROOT / "pyproject.toml").read_text(), re.M | re.S)
    assert re.search(r'^ruphoto = "ruphoto.__main__:main"$', scripts.group(1), flags=re.MULTILINE)


# ---- the commands CI runs, and the Makefile ----------------------------------------------------------


def ci_command(marker: str) -> str:
    """What .ci/run extracts for a marker: its own awk function, run on the README."""
    script = f"source <(sed -n '/^readme_command()/,/^}}/p' .ci/run)\nreadme_command {marker}\n"
    run = subprocess.run(["bash", "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return run.stdout.strip()


def test_ci_runs_the_readmes_two_make_commands():
    assert ci_command("install") == "make install"
    assert ci_command("test") == "make test"
    two_commands = first_bash_block("Two commands")
    assert [line.split()[:2] for line in two_commands] == [["make", "demo"], ["make", "test"]]


def make(*argv: str, cwd: Path = REPO_ROOT, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


@needs_make
def test_make_alone_lists_the_targets():
    run = make()
    assert run.returncode == 0, run.stderr
    assert [line.split()[1] for line in run.stdout.splitlines()] == [
        "demo",
        "test",
        "runtime",
        "install",
        "messages",
        "help",
    ]


def installs(plan: str) -> list[str]:
    """The install commands in a `make -n` plan: the venv and every pip line."""
    return [command for command in plan.splitlines() if command.startswith(("python3 -m venv", ".venv/bin/pip"))]


def one_liner(after: str) -> list[str]:
    """The commands of the README's first bash block after a phrase of its Install section."""
    text = section("Install").split(after, 1)[1]
    line = re.search(r"```bash\n(.*?)\n```", text, flags=re.DOTALL).group(1)
    return [command.strip() for command in line.split("&&")]


@needs_make
def test_the_readmes_manual_install_is_what_make_runtime_and_make_install_run():
    runtime = one_liner("By hand `make runtime` runs:")
    extras = one_liner("and `make install` adds:")
    assert runtime == installs(make("-n", "--always-make", "runtime", "PYTHON=python3").stdout)
    assert runtime + extras == installs(make("-n", "--always-make", "install", "PYTHON=python3").stdout)
    assert runtime[1] == ".venv/bin/pip install torch==2.13.0"  # torch first, pinned
    assert runtime[-1] == ".venv/bin/pip install --no-build-isolation -e ."  # no extras for the demo


@needs_make
def test_make_help_says_what_make_demo_does():
    # It serves the page and prints the address; nothing opens a browser (the server runs headless).
    (demo,) = [line for line in make("help").stdout.splitlines() if line.startswith("make demo ")]
    assert "serve the search page and print its address" in demo and "open the" not in demo


@pytest.fixture
def make_folder(tmp_path: Path) -> Path:
    """The Makefile and pyproject.toml alone in a folder: what make decides, with nothing installed."""
    shutil.copy(REPO_ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    os.utime(tmp_path / "pyproject.toml", (1_000_000_000, 1_000_000_000))
    return tmp_path


def installed(folder: Path, *stamps: str) -> None:
    """Stamps written after pyproject.toml, in this order (each layer after the one below it)."""
    (folder / ".venv").mkdir(exist_ok=True)
    for age, name in enumerate(stamps, start=1):
        (folder / ".venv" / name).touch()
        os.utime(folder / ".venv" / name, (1_000_000_000 + age, 1_000_000_000 + age))


EXTRAS = '.venv/bin/pip install --no-build-isolation -e ".[dev,cluster,ocr]"'


def plan(folder: Path, target: str) -> str:
    """What `make -n target` would run, the echo of the page's address included."""
    return make("-n", target, cwd=folder).stdout


@needs_make
def test_make_demo_installs_the_runtime_alone(make_folder: Path):
    first = installs(plan(make_folder, "demo"))
    assert first[0] == "python3 -m venv .venv" and first[-1] == ".venv/bin/pip install --no-build-isolation -e ."
    assert not any("[dev" in line or "ruclip" in line for line in first)
    installed(make_folder, ".installed-runtime")
    again = plan(make_folder, "demo")
    assert [line.split()[0] for line in again.splitlines()] == [".venv/bin/python", "echo", ".venv/bin/python"]


@needs_make
def test_make_test_after_make_demo_adds_only_the_extras(make_folder: Path):
    installed(make_folder, ".installed-runtime")
    planned = plan(make_folder, "test")
    assert installs(planned) == [EXTRAS, ".venv/bin/pip install --no-deps ruclip==0.0.2"]
    assert planned.endswith("\n.venv/bin/python -m pytest -q\n")


@needs_make
def test_make_demo_after_make_test_installs_nothing(make_folder: Path):
    installed(make_folder, ".installed-runtime", ".installed")
    assert installs(plan(make_folder, "demo")) == []
    assert plan(make_folder, "test") == ".venv/bin/python -m pytest -q\n"


@needs_make
def test_a_changed_pyproject_installs_both_layers_again(make_folder: Path):
    installed(make_folder, ".installed-runtime", ".installed")
    os.utime(make_folder / "pyproject.toml")  # changed after the install
    full = installs(plan(make_folder, "test"))
    assert full[0] == "python3 -m venv .venv" and full[-2] == EXTRAS
    demo = installs(plan(make_folder, "demo"))
    assert demo[0] == "python3 -m venv .venv" and EXTRAS not in demo


@needs_make
def test_make_install_refuses_a_python_older_than_3_11(make_folder: Path):
    # No Python 3.9 is installed here: a stand-in answers the two questions the Makefile asks.
    old_python = make_folder / "python3.9"
    old_python.write_text(
        '#!/bin/sh\ncase "$2" in *version_info*) exit 1 ;; *platform*) echo 3.9.18 ;; esac\n', encoding="utf-8"
    )
    old_python.chmod(0o755)
    run = make("install", f"PYTHON={old_python}", cwd=make_folder)
    assert run.returncode != 0
    assert "Python 3.9.18; this project needs 3.11 or newer" in run.stderr
    assert "PYTHON=python3.11" in run.stderr
    assert not (make_folder / ".venv").exists()
    missing = make("install", "PYTHON=no-such-python3", cwd=make_folder)
    assert missing.returncode != 0 and "no-such-python3 not found" in missing.stderr


@needs_make
def test_make_demo_builds_and_serves_the_demo_index(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("RUPHOTO_DATA", raising=False)
    plan = make("-n", "demo", "PORT=8642", RUPHOTO_DATA="").stdout.splitlines()
    index = str(demo_index_dir())
    assert f".venv/bin/python -m indexer build data/demo/photos --index {index} --model demo" in plan
    assert f".venv/bin/python -m ui --index {index} --port 8642" in plan
    assert any("http://localhost:8642" in line for line in plan)
    monkeypatch.setenv("RUPHOTO_DATA", str(tmp_path))
    moved = make("-n", "demo").stdout
    assert f"--index {demo_index_dir()} --model demo" in moved and str(tmp_path) in moved


# ---- the Quickstart and the Python blocks, against the demo -------------------------------------------


def demo_labels() -> dict[str, tuple[str, str]]:
    """IMG_0001.jpg -> (colour, shape): the demo photos are labelled_pictures("demo", seed 0) in order
    (`python -m training demo-photos` with its defaults)."""
    from training.world import labelled_pictures

    pictures = labelled_pictures("demo", 0, 64, (320, 240))
    return {f"IMG_{number:04d}.jpg": (p.colour.name, p.shape.name) for number, p in enumerate(pictures, start=1)}


def label(path: str) -> tuple[str, str]:
    return demo_labels()[Path(path).name]


def venv_in(folder: Path) -> None:
    """folder/.venv/bin/ruphoto and python: this test's interpreter running this checkout, as
    `make install` leaves them (the console script, and the venv's Python)."""
    bin_folder = folder / ".venv" / "bin"
    bin_folder.mkdir(parents=True)
    path = f"PYTHONPATH={REPO_ROOT}${{PYTHONPATH:+:$PYTHONPATH}}"
    for name, run in (("ruphoto", f"{sys.executable} -m ruphoto"), ("python", sys.executable)):
        (bin_folder / name).write_text(f'#!/bin/sh\n{path} exec {run} "$@"\n', encoding="utf-8")
        (bin_folder / name).chmod(0o755)


def run_as_written(lines: list[str], cwd: Path, **env: str) -> list[subprocess.CompletedProcess]:
    """Each command line in bash, in `cwd`, all but those that serve the page until stopped."""
    runs = []
    for command in lines:
        if command.startswith(f"{VENV_SCRIPT} ui"):
            continue  # serves until Ctrl-C: the browser test (tests/test_ui_browser.py) starts the page
        assert command.startswith(f"{VENV_SCRIPT} "), command
        runs.append(
            subprocess.run(
                ["bash", "-c", command],
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=300,
                env={**os.environ, **env},
            )
        )
    return runs


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory) -> tuple[Path, list[subprocess.CompletedProcess]]:
    """A folder with a copy of the demo photos, where the Quickstart's commands ran, all but the page's."""
    workspace = tmp_path_factory.mktemp("readme")
    shutil.copytree(DEMO_PHOTOS, workspace / "data" / "demo" / "photos")
    venv_in(workspace)
    return workspace, run_as_written(first_bash_block("Quickstart"), workspace)


@pytest.fixture(scope="module")
def home_with_pictures(tmp_path_factory) -> Path:
    """A clone's folder (its .venv) and a home whose ~/Pictures is a copy of the demo photos. Shared
    by the own-photos block and the watch block, in the README's order: the watch block then starts
    from the index the first one built, as a reader following the README would."""
    clone = tmp_path_factory.mktemp("clone")
    venv_in(clone)
    shutil.copytree(DEMO_PHOTOS, clone / "home" / "Pictures")
    return clone


@pytest.mark.slow
def test_the_own_photos_block_runs_as_written(home_with_pictures: Path):
    # As written, with one thing changed: the default model is the demo's ($RUPHOTO_MODEL, documented),
    # because the published one is a 600 MB download and this suite needs no network.
    clone = home_with_pictures
    own_photos = bash_blocks("Quickstart")[1]
    build, search_line = run_as_written(own_photos, clone, HOME=str(clone / "home"), RUPHOTO_MODEL="demo")
    assert build.returncode == 0, build.stderr
    assert "64 images searchable" in build.stdout
    assert (clone / "data" / "index" / "index.sqlite").is_file()  # the default index, beside the demo's
    assert search_line.returncode == 0, search_line.stderr
    assert "Демо-модель знает только цвета и фигуры" in search_line.stdout + search_line.stderr  # «кот»


@pytest.mark.slow
def test_the_watch_block_runs_as_written(home_with_pictures: Path):
    clone = home_with_pictures
    (command,) = bash_blocks("Keeping the index current")[0]
    environment = {**os.environ, "HOME": str(clone / "home"), "RUPHOTO_MODEL": "demo", "PYTHONUNBUFFERED": "1"}
    watcher = subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        cwd=clone,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        seen = []
        for line in watcher.stdout:  # the first build's summary, then watching
            seen.append(line)
            if "searchable" in line:
                break
        assert any("64 images searchable" in line for line in seen), "".join(seen)
    finally:
        os.killpg(watcher.pid, signal.SIGINT)  # Ctrl-C, as the comment says
        rest = watcher.communicate(timeout=120)[0]
    assert watcher.returncode in (0, 130), "".join(seen) + rest
    assert "Traceback" not in rest


def test_the_demo_photos_are_those_the_labels_describe():
    assert sorted(p.name for p in DEMO_PHOTOS.rglob("*.jpg")) == sorted(demo_labels())
    assert label("IMG_0025.jpg") == ("красный", "звезда") and label("IMG_0013.jpg") == ("синий", "квадрат")


@pytest.mark.slow
def test_the_quickstart_runs_as_written(quickstart):
    workspace, runs = quickstart
    build, search_line = runs
    assert "--index data/demo-index" in build.args[-1] and "--model demo" in build.args[-1]
    assert build.returncode == 0, build.stderr
    assert "64 images searchable" in build.stdout
    assert (workspace / "data" / "demo-index").is_dir() and not (workspace / "data" / "index").exists()
    assert search_line.returncode == 0, search_line.stderr
    top = search_line.stdout.splitlines()[0]
    assert label(top.split()[-1]) == ("красный", "звезда")


def run_block(source: str, namespace: dict) -> dict[str, object]:
    """Run a README block statement by statement, as Python would; the value of each expression
    statement by its source text (they are discarded when the block runs as a script)."""
    values = {}
    for node in ast.parse(source).body:
        text = ast.get_source_segment(source, node)
        if isinstance(node, ast.Expr):
            values[text] = eval(compile(ast.Expression(node.value), "README.md", "eval"), namespace)
        else:
            exec(compile(ast.Module([node], type_ignores=[]), "README.md", "exec"), namespace)
    return values


def value_of(values: dict[str, object], fragment: str):
    (found,) = [value for text, value in values.items() if fragment in text]
    return found


@pytest.mark.slow
def test_searching_from_python_runs_as_written_on_the_demo(quickstart, monkeypatch, capsys):
    workspace, _ = quickstart
    monkeypatch.chdir(workspace)
    block = code_blocks("python")[0]
    assert 'search.open_index("data/demo-index")' in block
    namespace: dict = {}
    values = run_block(block, namespace)

    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 5
    assert label(printed[0].split(maxsplit=1)[1]) == ("красный", "звезда")
    scores = [float(line.split()[0]) for line in printed]
    assert scores == sorted(scores, reverse=True)

    assert label(value_of(values, '"звезда + красный - круг"')[0].path) == ("красный", "звезда")
    assert label(value_of(values, '"2:звезда + синий"')[0].path)[1] == "звезда"
    steered = value_of(values, "image=")
    assert label(steered[0].path) == ("жёлтый", "звезда")  # a red star, made yellow by the word
    similar = value_of(values, "similar(")
    assert len(similar) == 20 and namespace["hit"].id not in [h.id for h in similar]

    album = workspace / "data" / "demo" / "photos" / "2024 зима"
    in_album = value_of(values, "folder=")
    assert len(in_album) == 20 and all(Path(h.path).parent == album for h in in_album)
    summer = value_of(values, "date_from=")
    assert len(summer) == 20  # 22 photos in «2023 лето»
    assert all(Path(h.path).parent.name == "2023 лето" and h.taken_at.month in (6, 7, 8) for h in summer)

    confident = value_of(values, "min_score=")
    everything = namespace["index"].search("красная звезда")
    assert 0 < len(confident) < len(everything)
    assert all(h.score >= 0.5 for h in confident)
    assert label(confident[0].path) == ("красный", "звезда")

    assert value_of(values, 'search("кот")') == []
    assert "знает только цвета и фигуры" in value_of(values, 'unknown_query("кот")')
    scores = value_of(values, "scores(")
    assert len(scores) == 64 and all(scores[:-1] >= scores[1:])  # every demo photo, best first


@pytest.mark.slow
def test_encoding_directly_runs_as_written_on_the_demo(quickstart, monkeypatch):
    workspace, _ = quickstart
    monkeypatch.chdir(workspace)
    block = code_blocks("python")[1]
    assert 'search.load_model("demo")' in block  # offline: the published default cannot be downloaded here
    namespace: dict = {}
    run_block(block, namespace)
    scores = namespace["scores"]
    assert scores.shape == (2, 2)
    # «красная звезда» matches the red star, «синий квадрат» the blue square.
    assert np.argmax(scores, axis=1).tolist() == [0, 1] and np.argmax(scores, axis=0).tolist() == [0, 1]


def test_the_readme_has_no_other_python_block():
    assert len(code_blocks("python")) == 2  # a new one needs its own test above
