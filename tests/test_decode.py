"""The decoding pool: a file that hangs or blows up memory costs that file only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from indexer.decode import Decoded, DecodePool, Failed, decode_one

from .conftest import GOLDEN


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
    assert result.pixels.shape == (224, 224, 3) and result.pixels.dtype == np.uint8
    assert (result.width, result.height) == Image.open(GOLDEN / "images" / "chelsea.png").size


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
