"""On a CUDA GPU (skipped elsewhere, and said so): fp16 and bf16 against the reference's fp32 on the
same random full-size weights, and the GPU engine (nvJPEG decoding, the device square, the pipeline)
against the CPU engine. benchmarks/gpu_check.sh runs these on a lent GPU machine."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import search
from indexer.engines.gpu import GpuEngine
from indexer.engines.local import LocalEngine
from indexer.scan import FoundFile
from indexer.stages import DECODE, StageTimes
from search.images.device import device_square, gpu_decoding_available
from search.images.square import square_pixels
from search.testing import make_random_checkpoint

from .helpers import TINY_BPE
from .test_gpu_engine import collection, photo, save_jpeg  # noqa: F401 - the shared fixture
from .test_reference_parity import FULL_CONFIGS, TEXTS, reference_embeddings

CUDA = torch.cuda.is_available()
pytestmark = pytest.mark.skipif(not CUDA, reason="needs CUDA: run benchmarks/gpu_check.sh on a GPU machine")
needs_nvjpeg = pytest.mark.skipif(
    not (CUDA and gpu_decoding_available(torch.device("cuda"))), reason="needs CUDA and torchvision (the gpu extra)"
)
PARITY = 0.999


@pytest.mark.slow
@pytest.mark.parametrize("name", FULL_CONFIGS)
def test_half_precisions_match_the_reference_fp32(name, reference, golden, tmp_path):
    config = search.PUBLISHED_CONFIGS[name]
    folder = make_random_checkpoint(tmp_path / name, config, TINY_BPE, seed=7)
    exact = search.load_model(folder, device="cpu")
    images = [Image.open(path) for path in golden["images"][:6]]
    pixels = torch.stack([exact.preprocess(image) for image in images])
    ref_text, ref_image = reference_embeddings(reference, folder, exact.tokenize(TEXTS), pixels)
    for precision in ("fp16", "bf16"):
        model = search.load_model(folder, device="cuda", precision=precision)
        image_cosines = (model.encode_pixels(pixels) * ref_image).sum(axis=1)
        text_cosines = (model.encode_texts(TEXTS) * ref_text).sum(axis=1)
        squares = np.stack([square_pixels(image, config.image_resolution) for image in images])
        square_cosines = (model.encode_squares(squares) * ref_image).sum(axis=1)  # the indexer's uint8 path
        print(f"{name} {precision}: image cos min {image_cosines.min():.6f}, text cos min {text_cosines.min():.6f}")
        assert image_cosines.min() >= PARITY, (precision, image_cosines)
        assert text_cosines.min() >= PARITY, (precision, text_cosines)
        assert square_cosines.min() >= PARITY, (precision, square_cosines)
        assert np.abs(model.encode_pixels(pixels) - ref_image).max() > 1e-5  # really in half precision
        del model
        torch.cuda.empty_cache()


@needs_nvjpeg
def test_device_square_on_cuda_is_square_pixels_within_one_level():
    picture = photo(0, (4000, 3000))
    expected = square_pixels(picture, 384).astype(np.int16)
    stored = torch.from_numpy(np.array(picture)).permute(2, 0, 1).cuda()
    ours = device_square(stored, 1, 384).permute(1, 2, 0).cpu().numpy().astype(np.int16)
    difference = np.abs(ours - expected)
    print(f"device square on CUDA vs square_pixels: max {difference.max()}, RMS {np.sqrt(np.mean(difference**2)):.3f}")
    assert difference.max() <= 1


@needs_nvjpeg
def test_gpu_engine_on_cuda_matches_the_cpu_engine(collection, tmp_path):  # noqa: F811
    folder = make_random_checkpoint(tmp_path / "b32", search.PUBLISHED_CONFIGS[FULL_CONFIGS[0]], TINY_BPE, seed=3)
    cpu_model = search.load_model(folder, device="cpu")
    gpu_model = search.load_model(folder, device="cuda", precision="fp16")
    work = [FoundFile(str(path), 1, 1) for path in collection.values()]
    names = {str(path): name for name, path in collection.items()}

    def rows(engine) -> dict:
        stages = StageTimes()
        found = {names[r.file.path]: r for batch in engine.row_batches(work, lambda h: {}, stages) for r in batch}
        return found, stages

    engine = GpuEngine(gpu_model, workers=2, decoder="torchvision")
    ours, stages = rows(engine)
    expected, _ = rows(LocalEngine(cpu_model, 2, 32, fast_jpeg=False))
    assert engine.chosen_batch_size() >= 8  # from the card's free memory
    assert {n for n, r in ours.items() if not hasattr(r, "vector")} == {"truncated", "refused", "vanished"}
    cosines = {n: float(r.vector @ expected[n].vector) for n, r in ours.items() if hasattr(r, "vector")}
    print("GPU engine vs CPU engine, cosine per file:", {n: round(c, 5) for n, c in cosines.items()})
    assert min(cosines.values()) >= 0.995  # nvJPEG's IDCT and fp16 against libjpeg-turbo and fp32
    assert "nvJPEG cuda" in " ".join(stages[DECODE].workers)
    for name, row in ours.items():
        if not hasattr(row, "vector"):
            assert row.reason == expected[name].reason
