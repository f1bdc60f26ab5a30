"""The decoding pool: a file that hangs or blows up memory costs that file only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from indexer.decode import DecodePool
from search.images import Decoded, Failed, decode_one

from .helpers import GOLDEN


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("decode")
    rng = np.random.default_rng(0)
    big = folder / "big.png"  # 36 Mpx of noise: ~100 MB decoded, seconds to decode
    Image.fromarray(rng.integers(0, 255, (6000, 6000, 3), dtype=np.uint8)).save(big, compress_level=1)
    small = []
    for i in range(3):
        path = folder / f"small_{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(path)
        small.append(path)
    return {"big": big, "small": small}


def test_decoded_square_matches_the_encoders_preprocessing():
    result = decode_one(str(GOLDEN / "images" / "chelsea.png"), 224, fast_jpeg=False)
    assert isinstance(result, Decoded)
    assert result.square.pixels.shape == (224, 224, 3) and result.square.pixels.dtype == np.uint8
    assert (result.facts.width, result.facts.height) == Image.open(GOLDEN / "images" / "chelsea.png").size


def test_a_file_that_overruns_its_time_fails_alone(files):
    paths = [str(files["big"]), *map(str, files["small"])]
    with DecodePool(32, workers=1, timeout_s=0.3) as pool:
        results = {r.path: r for r in pool.imap(paths)}
    assert isinstance(results[str(files["big"])], Failed)
    assert results[str(files["big"])].reason == "timed out"
    assert all(isinstance(results[str(p)], Decoded) for p in files["small"])


def test_a_file_that_needs_too_much_memory_fails_alone(files):
    paths = [str(files["big"]), *map(str, files["small"])]
    with DecodePool(32, workers=1, memory_limit_bytes=40 << 20) as pool:
        results = {r.path: r for r in pool.imap(paths)}
    assert results[str(files["big"])].reason == "out of memory"
    assert all(isinstance(results[str(p)], Decoded) for p in files["small"])


def test_workers_do_not_run_the_callers_unguarded_script_again(tmp_path, files):
    """A Streamlit page or a notebook has no `if __name__ == "__main__"`: spawn would run it once
    more in every worker. The pool starts its workers without the caller's main module."""
    import subprocess
    import sys

    from .helpers import REPO_ROOT

    runs = tmp_path / "runs.txt"
    script = tmp_path / "page.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(REPO_ROOT)!r})\n"
        f"open({str(runs)!r}, 'a').write('run\\n')\n"
        "from indexer.decode import DecodePool\n"
        "with DecodePool(32, 2) as pool:\n"
        f"    results = list(pool.imap([{str(files['small'][0])!r}] * 4))\n"
        "print(sorted({type(r).__name__ for r in results}))\n",
        encoding="utf-8",
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['Decoded']"
    assert runs.read_text().count("run") == 1
