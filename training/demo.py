"""The offline demo: a small ruCLIP trained on coloured shapes, and a photo collection to search.

`python -m training demo-model` reproduces search/clip/demo_model (seeded; minutes on 2 CPU cores);
`python -m training demo-photos` writes the demo collection data/demo/photos.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

import torch
from PIL import Image

from search.classify.tag_vocabulary import TAGS_FILE
from search.clip.checkpoint import save_checkpoint
from search.clip.config import ModelConfig
from search.clip.encoder import load_model
from search.clip.folder import file_fingerprint
from search.clip.model import CLIP
from search.clip.tokenizer import Tokenizer, check_bpe_file
from search.constants import EXIF_DATE_TAKEN, EXIF_IFD, EXIF_MAKE, EXIF_MODEL, KNOWN_WORDS_FILE
from search.paths import PACKAGED_DEMO_MODEL_DIR

from .bpe import train_bpe
from .captions import demo_tags, known_words, tokenizer_corpus
from .contrastive import TrainingSchedule, init_for_training, train
from .evaluate import ShapeQueryReport, evaluate_shape_queries
from .world import DEFAULT_BACKGROUNDS, generate_pool, labelled_pictures
from .world import batches as world_batches

log = logging.getLogger(__name__)

REPO_DATA_DIR = Path(__file__).resolve().parent.parent / "data"  # training runs from a source checkout
# The demo model is written where the package ships it from (package data).
DEMO_MODEL_DIR = PACKAGED_DEMO_MODEL_DIR
DEMO_PHOTOS_DIR = REPO_DATA_DIR / "demo" / "photos"
# The demo's vocabulary, learnt once with learn_demo_vocabulary(). youtokentome breaks ties between
# equally frequent pairs differently from one process to the next (measured: 2 of 3 runs gave the
# same file), so the recipe starts from this file to reproduce the weights bit for bit.
DEMO_VOCABULARY = REPO_DATA_DIR / "demo" / "bpe.model"
RECIPE_FILE = "training.json"  # written next to the checkpoint: how it was made and how well it does


@dataclass(frozen=True)
class DemoRecipe:
    """Everything that decides the demo model. Same recipe, same machine → the same weights."""

    seed: int = 0
    steps: int = 1000
    batch_size: int = 128
    pool_size: int = 16_000
    easy_steps: int = 300  # plain and gradient backgrounds only: shapes are learnt there first
    ramp_steps: int = 300  # then noise and photo backgrounds phase in, up to half of each batch
    learning_rate: float = 1e-3
    embed_dim: int = 128
    image_resolution: int = 64
    vision_patch_size: int = 8
    vision_width: int = 128
    vision_layers: int = 3
    transformer_width: int = 128
    transformer_heads: int = 2
    transformer_layers: int = 3
    context_length: int = 32
    eval_pictures_per_pair: int = 6

    def model_config(self, vocab_size: int) -> ModelConfig:
        return ModelConfig(
            embed_dim=self.embed_dim,
            image_resolution=self.image_resolution,
            vision_layers=self.vision_layers,
            vision_width=self.vision_width,
            vision_patch_size=self.vision_patch_size,
            context_length=self.context_length,
            vocab_size=vocab_size,
            transformer_width=self.transformer_width,
            transformer_heads=self.transformer_heads,
            transformer_layers=self.transformer_layers,
        )


def evaluate_demo_model(folder: Path, seed: int, per_pair: int, size: tuple[int, int] = (160, 120)) -> ShapeQueryReport:
    """precision@5 of the 32 colour+shape queries on pictures never used in training."""
    model = load_model(folder, device="cpu")
    pictures = labelled_pictures("eval", seed, 32 * per_pair, size)
    return evaluate_shape_queries(model, pictures, k=5)


def train_demo_model(
    output: Path = DEMO_MODEL_DIR,
    recipe: DemoRecipe = DemoRecipe(),
    *,
    workers: int = 2,
    progress: bool = True,
    backgrounds: Path | None = DEFAULT_BACKGROUNDS,
    vocabulary: Path = DEMO_VOCABULARY,
) -> ShapeQueryReport:
    """Train the demo model by `recipe` and write it to `output` in the published format.

    The folder is replaced only when training has finished, so an interrupted run leaves the
    previous model in place.
    """
    started = time.monotonic()
    torch.manual_seed(recipe.seed)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=f".{output.name}-") as scratch:
        staging = Path(scratch) / "model"
        bpe_path = Path(vocabulary)
        vocab_size = check_bpe_file(bpe_path)
        config = recipe.model_config(vocab_size)
        tokenizer = Tokenizer(bpe_path, config.context_length, vocab_size)
        network = init_for_training(CLIP(config), recipe.seed)

        log.info("drawing %d training pictures", recipe.pool_size)
        pool = generate_pool(
            recipe.pool_size, recipe.seed, config.image_resolution, workers=workers, backgrounds=backgrounds
        )
        schedule = TrainingSchedule(steps=recipe.steps, learning_rate=recipe.learning_rate)
        losses = train(
            network,
            world_batches(
                pool, tokenizer, config, recipe.batch_size, recipe.seed, recipe.easy_steps, recipe.ramp_steps
            ),
            schedule,
            progress=progress,
        )

        save_checkpoint(staging, network, bpe_path)
        write_known_words(staging)
        (staging / TAGS_FILE).write_text(demo_tags(), encoding="utf-8")
        report = evaluate_demo_model(staging, recipe.seed, recipe.eval_pictures_per_pair)
        record = {
            "recipe": asdict(recipe),
            "command": "python -m training demo-model",
            "vocabulary_sha256": file_fingerprint(bpe_path),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "minutes": round((time.monotonic() - started) / 60, 2),
            "final_loss": round(sum(losses[-20:]) / len(losses[-20:]), 4),
            "precision_at_5_mean": round(report.mean, 4),
            "precision_at_5": {query: round(value, 4) for query, value in report.per_query.items()},
        }
        (staging / RECIPE_FILE).write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        _replace_folder(staging, output)
    return report


def write_known_words(folder: Path) -> None:
    """The demo's known_words.txt: the colour and shape words it was trained on (see search/vocabulary.py)."""
    summary, words = known_words()
    text = f"# {summary}\n" + "".join(f"{word}\n" for word in words)
    (folder / KNOWN_WORDS_FILE).write_text(text, encoding="utf-8")


def learn_demo_vocabulary(output: Path = DEMO_VOCABULARY, seed: int = 0, vocab_size: int = 512) -> int:
    """Learn a BPE vocabulary from the demo's captions (vocab_size is an upper bound: the captions
    run out of merges near 400 tokens); returns the size reached."""
    return train_bpe(tokenizer_corpus(random.Random(f"bpe:{seed}")), output, vocab_size)


def _replace_folder(new: Path, target: Path) -> None:
    """Swap `new` into `target`'s place; the old folder is removed only after the new one is there."""
    old = target.with_name(f".{target.name}-old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    new.rename(target)
    if old.exists():
        shutil.rmtree(old)


# ---- the demo collection --------------------------------------------------------------------------

DEMO_ALBUMS = ("2023 лето", "2024 зима", "2025 весна")
# The first month of each season and the year it falls in, relative to the album's year: «2024 зима»
# is the winter that ends in 2024, December 2023 to February 2024.
SEASON_STARTS = {"весна": (3, 0), "лето": (6, 0), "осень": (9, 0), "зима": (12, -1)}
SEASON_DAYS = 89  # the shortest season (a winter of a common year) has 90 days: every date stays inside it


def album_season_start(album: str) -> datetime:
    """'2023 лето' -> 1 June 2023, 10:00: where that album's shooting dates begin."""
    year, season = album.split(" ", 1)
    month, year_offset = SEASON_STARTS[season]
    return datetime(int(year) + year_offset, month, 1, 10)


def write_demo_photos(
    folder: Path = DEMO_PHOTOS_DIR, *, seed: int = 0, per_pair: int = 2, size: tuple[int, int] = (320, 240)
) -> list[Path]:
    """A small photo collection: every colour+shape pair `per_pair` times, as JPEGs in three albums,
    with EXIF dates spread over the album's season and a camera, so that folder and date filters
    have something to filter."""
    pictures = labelled_pictures("demo", seed, 32 * per_pair, size)
    per_album = -(-len(pictures) // len(DEMO_ALBUMS))  # rounded up
    folder = Path(folder)
    written = []
    for index, picture in enumerate(pictures):
        album = DEMO_ALBUMS[index % len(DEMO_ALBUMS)]
        day = (index // len(DEMO_ALBUMS)) * SEASON_DAYS // per_album
        taken = album_season_start(album) + timedelta(days=day, minutes=7 * index)
        exif = Image.Exif()
        exif[EXIF_MAKE], exif[EXIF_MODEL] = "Demo", "Shapes Camera"
        exif.get_ifd(EXIF_IFD)[EXIF_DATE_TAKEN] = taken.strftime("%Y:%m:%d %H:%M:%S")
        path = folder / album / f"IMG_{index + 1:04d}.jpg"  # names say nothing: search must look at pixels
        path.parent.mkdir(parents=True, exist_ok=True)
        picture.image.save(path, quality=90, exif=exif)
        written.append(path)
    return written
