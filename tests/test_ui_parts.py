"""The UI's parts that need no page: thumbnails (cache, orientation, the indexed-folders rule),
the folder filter's choices, the app's arguments, telling a model download from a load, the
Russian texts of every error, and uploads decoded small under a pixel cap."""

from __future__ import annotations

import io
import os
import pickle
import re
import subprocess
import sys

import pytest
from PIL import Image

from search import EmptyReason, SearchResults
from search.clip.hub import DOWNLOADED_FILES
from search.commands import indexer_command
from search.constants import DEFAULT_MODEL, HUB_ORGANISATION
from search.errors import (
    ImageLoadError,
    ImageProblem,
    IndexStoreError,
    LabelError,
    LabelProblem,
    ModelProblem,
    StoreProblem,
)
from search.images import THUMBNAIL_PX, UploadTooLarge, decode_upload
from search.query.language import QueryError, QueryProblem, parse_query
from search.store.thumbnails import THUMBNAIL_DIR
from ui import messages
from ui.folders import photo_folders
from ui.loading import _needs_download
from ui.messages import (
    EMPTY_REASONS,
    IMAGE_PROBLEMS,
    LABEL_PROBLEMS,
    MODEL_PROBLEMS,
    QUERY_PROBLEMS,
    STORE_PROBLEMS,
    explained,
    failure_reason,
    not_shown,
    nothing_found,
    upload_refused,
)
from ui.settings import read_settings
from ui.thumbnails import inside_roots, preview, thumbnail

from .helpers import REPO_ROOT, in_this_process

EXIF_ORIENTATION = 0x0112


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    return root


def _decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_a_thumbnail_is_upright_small_and_cached_in_the_index_folder(tmp_path, photos):
    # Stored 1200×800 (landscape) with "rotate 90°" in EXIF: the camera was held upright.
    path = photos / "upright.jpg"
    pixels = Image.new("RGB", (1200, 800), "red")
    pixels.paste(Image.new("RGB", (600, 800), "blue"))  # left half blue
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    pixels.save(path, quality=90, exif=exif)
    index = tmp_path / "index"

    data = thumbnail(index, 7, str(path), [str(photos)])
    image = _decoded(data)
    assert image.format == "JPEG"
    assert image.size == (THUMBNAIL_PX * 800 // 1200, THUMBNAIL_PX)  # portrait, long side THUMBNAIL_PX
    top, bottom = image.getpixel((image.width // 2, 10)), image.getpixel((image.width // 2, image.height - 10))
    assert top[2] > 200 and bottom[0] > 200  # rotated 90° clockwise: the blue left half is now on top

    cached = list((index / THUMBNAIL_DIR).rglob("7-*.jpg"))
    assert len(cached) == 1 and cached[0].read_bytes() == data
    cached[0].write_bytes(b"from the cache")  # the next view reads the file, it does not decode again
    assert thumbnail(index, 7, str(path), [str(photos)]) == b"from the cache"

    Image.new("RGB", (300, 200), "green").save(path)  # the photo was edited: a new thumbnail, the old one gone
    os.utime(path, ns=(1, 10**18))
    fresh = _decoded(thumbnail(index, 7, str(path), [str(photos)]))
    assert fresh.getpixel((5, 5))[1] > 100 and fresh.size == (300, 200)  # never enlarged
    assert len(list((index / THUMBNAIL_DIR).rglob("7-*.jpg"))) == 1


def test_transparent_pictures_are_shown_on_white(tmp_path, photos):
    path = photos / "logo.png"
    Image.new("RGBA", (100, 50), (0, 0, 0, 0)).save(path)
    image = _decoded(thumbnail(tmp_path / "index", 1, str(path), [str(photos)]))
    assert min(image.getpixel((50, 25))) > 240


def test_only_files_inside_the_indexed_folders_are_read(tmp_path, photos):
    secret = tmp_path / "secret.jpg"
    Image.new("RGB", (10, 10)).save(secret)
    roots = [str(photos)]
    for path in (secret, photos / ".." / "secret.jpg", tmp_path / "photos2" / "x.jpg"):
        assert not inside_roots(path, roots)
        with pytest.raises(ImageLoadError, match="outside the indexed folders"):
            thumbnail(tmp_path / "index", 1, str(path), roots)
        with pytest.raises(ImageLoadError, match="outside the indexed folders"):
            preview(str(path), roots)
    assert inside_roots(photos / "album" / "a.jpg", roots)


def test_a_photo_gone_since_the_build_is_a_message_not_a_crash(tmp_path, photos):
    with pytest.raises(ImageLoadError, match="moved or deleted"):
        thumbnail(tmp_path / "index", 1, str(photos / "gone.jpg"), [str(photos)])


def test_the_folder_filter_offers_albums_but_not_the_index_or_hidden_folders(photos):
    for folder in ("2023/лето/пляж/глубоко", "2024", ".thumbnails", "index/thumbnails"):
        (photos / folder).mkdir(parents=True)
    found = photo_folders([str(photos)], skip=str(photos / "index"))
    assert found == [str(photos), str(photos / "2023"), str(photos / "2023" / "лето"), str(photos / "2024")]


def test_the_app_reads_its_own_arguments_and_leaves_others_alone(tmp_path):
    settings = read_settings(["--index", str(tmp_path), "--device", "cpu", "--unrelated-flag"])
    assert settings.index == tmp_path and settings.device == "cpu"
    assert str(read_settings([]).index) == "data/index"


def test_python_m_ui_teaches_its_options():
    from ui.__main__ import main

    shown = in_this_process(main, ["--help"])  # argparse's help exits before Streamlit would start
    assert shown.returncode == 0
    assert "--index" in shown.stdout and f"{indexer_command()} build /path/to/photos" in " ".join(shown.stdout.split())


def test_a_model_missing_from_the_hub_cache_is_announced_as_a_download(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    assert _needs_download(DEFAULT_MODEL)
    assert not _needs_download("demo")
    # The cache layout huggingface_hub reads: refs/main names a snapshot holding the files.
    repo = tmp_path / f"models--{HUB_ORGANISATION}--{DEFAULT_MODEL}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for name in DOWNLOADED_FILES:
        (snapshot / name).write_bytes(b"cached")
    assert not _needs_download(DEFAULT_MODEL)


def test_iphone_heic_photos_get_thumbnails(tmp_path, photos):
    pytest.importorskip("pillow_heif")  # a dependency; search.images registers its opener
    path = photos / "IMG_1234.HEIC"
    Image.new("RGB", (800, 600), (20, 200, 30)).save(path, format="HEIF")
    image = _decoded(thumbnail(tmp_path / "index", 3, str(path), [str(photos)]))
    assert image.format == "JPEG" and image.size == (THUMBNAIL_PX, THUMBNAIL_PX * 3 // 4)
    assert image.getpixel((10, 10))[1] > 150


# --- Everything the page says is Russian: ui/messages.py -------------------------------------

CODE_SPAN = re.compile(r"`[^`]*`")
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def english_outside_code(text: str) -> list[str]:
    """Latin words a user would read: paths, commands and file names are in `code` spans."""
    return LATIN_WORD.findall(PLACEHOLDER.sub("", CODE_SPAN.sub("", text)))


@pytest.mark.parametrize(
    ("reasons", "texts"),
    [
        (QueryProblem, QUERY_PROBLEMS),
        (StoreProblem, STORE_PROBLEMS),
        (ImageProblem, IMAGE_PROBLEMS),
        (ModelProblem, MODEL_PROBLEMS),
        (LabelProblem, LABEL_PROBLEMS),
    ],
)
def test_every_reason_has_a_russian_text(reasons, texts):
    # A reason added to an enum without its text fails here, before a user meets an English message.
    assert set(texts) == set(reasons)
    for reason, text in texts.items():
        assert re.search("[а-яё]{3,}", text), (reason, text)
        assert not english_outside_code(text), (reason, text)


def test_a_label_error_is_said_in_russian_by_its_reason_not_its_english(tmp_path):
    said = explained(LabelError("No category 'дача' in this index.", LabelProblem.UNKNOWN_CATEGORY), tmp_path)
    assert said == LABEL_PROBLEMS[LabelProblem.UNKNOWN_CATEGORY] and "category" not in said
    command = explained(LabelError("no tags yet", LabelProblem.NOT_TAGGED), tmp_path)
    assert "{indexer}" not in command and " build`" in command


@pytest.mark.parametrize(
    ("count", "said"), [(1, "по 1 примеру"), (2, "по 2 примерам"), (5, "по 5 примерам"), (21, "по 21 примеру")]
)
def test_a_category_s_examples_are_counted_in_russian(count, said):
    assert messages.examples_count(count) == said


def test_a_category_s_name_is_never_read_as_markdown():
    assert messages.category_removed("*моё*") == "Категория «\\*моё\\*» удалена. Фото остались на месте."
    assert messages.category_retrained("дача", 9, 12) == "Категория «дача» переобучена: в ней 12 фото (было 9)."
    assert messages.category_retrained("дача", 9, 9) == "Категория «дача» переобучена: в ней 9 фото (столько же)."


def test_every_empty_reason_is_worded_in_russian():
    assert set(EMPTY_REASONS) == set(EmptyReason)
    note = "Демо-модель знает только цвета и фигуры."  # the model's own sentence (search/vocabulary.py)
    for reason in EmptyReason:
        said = nothing_found(SearchResults([], reason, best_score=0.31, note=note), 0.4)
        assert re.search("[а-яё]{3,}", said) and not english_outside_code(said), (reason, said)
    below = nothing_found(SearchResults([], EmptyReason.BELOW_MIN_SCORE, best_score=0.31), 0.4)
    assert "лучшее сходство 0.31, порог 0.40" in below


def test_the_query_errors_carry_a_machine_readable_reason():
    cases = {"кот +": QueryProblem.EMPTY_TERM, "+ − собака": QueryProblem.EMPTY_TERM, "0:кот": QueryProblem.NO_WEIGHT}
    for query, reason in cases.items():
        with pytest.raises(QueryError) as caught:
            parse_query(query)
        assert caught.value.reason is reason
        assert "query" in str(caught.value)  # the English message stays for the API and the CLI
        assert pickle.loads(pickle.dumps(caught.value)).reason is reason  # across worker processes too
    assert QueryError("k must be a whole number").reason is QueryProblem.BAD_ARGUMENT


def test_a_damaged_index_is_explained_in_russian_naming_the_file(tmp_path):
    error = IndexStoreError("index.sqlite is damaged (file is not a database)", StoreProblem.DAMAGED)
    shown = explained(error, tmp_path)
    assert f"`{tmp_path / 'index.sqlite'}`" in shown and "повреждён" in shown
    assert f"`{indexer_command()} backup`" in shown and f"--index {tmp_path}" in shown
    assert "`index.sqlite-wal`" in shown  # deleted with it, or SQLite would replay it into the copy
    assert "not a database" not in shown and not english_outside_code(shown)


def test_an_error_without_a_text_is_still_said_in_russian(tmp_path):
    shown = explained(RuntimeError("something broke"), tmp_path)
    assert "something" not in shown and "Непредвиденная ошибка" in shown


def test_failure_groups_of_the_index_are_shown_in_russian():
    assert failure_reason("not a readable image") == "не изображение или файл повреждён"
    assert failure_reason("timed out") == "читался слишком долго"
    assert "`some new reason`" in failure_reason("some new reason")  # another version's reason: shown as code


def test_a_file_name_from_an_upload_is_not_read_as_markdown():
    refused = upload_refused("*жирный*_[ссылка](x).png", ImageLoadError("bad"))
    assert refused == (
        "Не удалось прочитать «\\*жирный\\*\\_\\[ссылка\\](x).png»: это не изображение или файл повреждён."
    )


def test_a_card_says_in_russian_why_it_has_no_picture(tmp_path, photos):
    with pytest.raises(ImageLoadError) as gone:
        thumbnail(tmp_path / "index", 1, str(photos / "gone.jpg"), [str(photos)])
    assert not_shown(gone.value) == "Не показать: файл пропал: удалён или перемещён после сборки."
    with pytest.raises(ImageLoadError) as outside:
        preview(str(tmp_path / "secret.jpg"), [str(photos)])
    assert not_shown(outside.value) == "Не показать: фото лежит вне папок индекса, поэтому не показывается."


# --- Uploads decoded small, with a pixel cap: search/images/uploads.py ------------------------------------


def _file(image: Image.Image, format: str, **options) -> io.BytesIO:
    data = io.BytesIO()
    image.save(data, format, **options)
    data.seek(0)
    return data


def test_an_upload_is_decoded_upright_and_small_enough(photos):
    stored = Image.new("RGB", (3000, 2000), "red")
    stored.paste(Image.new("RGB", (1500, 2000), "blue"))  # left half blue
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    image = decode_upload(_file(stored, "JPEG", exif=exif), "фото.jpg", short_side=224)
    assert image.size == (448, 672)  # upright (portrait), its short side twice the model's 224
    assert image.getpixel((224, 10))[2] > 200 and image.getpixel((224, 660))[0] > 200  # blue on top
    for mode in ("1", "P", "LA", "RGBA", "I;16", "CMYK"):
        decoded = decode_upload(_file(Image.new(mode, (1000, 3000)), "TIFF"), f"{mode}.tif", short_side=224)
        assert decoded.mode in ("L", "LA", "RGB", "RGBA") and decoded.size == (448, 1344), mode
    small = decode_upload(_file(Image.new("RGB", (300, 200), "green"), "PNG"), "мал.png", short_side=224)
    assert small.size == (300, 200)  # never enlarged


def test_an_upload_over_the_pixel_cap_is_refused_before_decoding_in_russian():
    bomb = _file(Image.new("1", (11000, 8000)), "PNG")  # 88 MP in about 11 KB
    assert len(bomb.getvalue()) < 50_000
    with pytest.raises(UploadTooLarge) as caught:
        decode_upload(bomb, "бомба.png", short_side=224)
    assert caught.value.reason is ImageProblem.TOO_LARGE
    assert upload_refused("бомба.png", caught.value) == (
        "Фото «бомба.png» слишком большое: в нём 88 Мп, а страница открывает до 50 Мп. Уменьшите его и загрузите снова."
    )


MEASURE_PEAK = """
import resource, sys
from search.images import decode_upload
from search.images.formats import ensure_optional_formats
from search.errors import ImageLoadError

ensure_optional_formats()  # the plugins' import is not the decode's memory

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    with open(sys.argv[1], "rb") as upload:
        outcome = "%dx%d" % decode_upload(upload, "upload", short_side=224).size
except ImageLoadError:
    outcome = "refused"
print(outcome, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)  # kB -> MB
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "size", "format", "outcome", "max_mb"),
    [
        ("1", (11000, 8000), "PNG", "refused", 20),  # 88 MP: refused from its header
        ("1", (7000, 7000), "PNG", "448x448", 150),  # 49 MP: one byte a pixel, plus its L copy
        ("RGB", (8000, 6000), "JPEG", "597x448", 40),  # 48 MP: the DCT decodes it at 1/8
    ],
)
def test_a_large_upload_adds_little_to_the_servers_memory(tmp_path, mode, size, format, outcome, max_mb):
    path = tmp_path / f"upload.{format.lower()}"
    Image.new(mode, size, 1 if mode == "1" else (40, 160, 90)).save(path, format)
    # A process of its own: its peak resident size (ru_maxrss) is this decode's alone.
    measured = subprocess.run(
        [sys.executable, "-c", MEASURE_PEAK, str(path)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert measured.returncode == 0, measured.stderr
    shown, added_mb = measured.stdout.split()
    assert shown == outcome
    assert int(added_mb) < max_mb, f"decoding a {size[0] * size[1] / 1e6:.0f} MP {format} added {added_mb} MB"


def test_a_camera_raw_upload_is_decoded_small_from_its_raw_data():
    from .dng import dng_bytes

    picture = Image.new("RGB", (1200, 800), (200, 40, 30))
    upload = io.BytesIO(dng_bytes(picture, preview_size=(90, 60)))  # a preview too small to use
    decoded = decode_upload(upload, "IMG_0042.DNG", short_side=64)
    assert max(decoded.size) <= 2 * 64 * 1.5 + 1 and min(decoded.size) <= 128
    red, green, blue = decoded.convert("RGB").resize((1, 1)).getpixel((0, 0))
    assert red > 120 and green < 90 and blue < 90  # the picture's red, demosaiced
    from ui import views

    assert "dng" in views.UPLOAD_TYPES and "cr3" in views.UPLOAD_TYPES and "qoi" in views.UPLOAD_TYPES


@pytest.mark.parametrize(
    ("count", "said"),
    [
        (1, "ещё 1 похожий кадр"),
        (3, "ещё 3 похожих кадра"),
        (5, "ещё 5 похожих кадров"),
        (11, "ещё 11 похожих кадров"),
        (12, "ещё 12 похожих кадров"),
        (21, "ещё 21 похожий кадр"),
        (24, "ещё 24 похожих кадра"),
        (111, "ещё 111 похожих кадров"),
    ],
)
def test_counts_agree_with_their_russian_noun(count, said):
    from ui import views

    assert views.similar_shots(count) == said


def test_the_folder_filter_offers_the_albums_not_the_single_photo_folder_itself(tmp_path):
    from ui.folders import folder_choices

    photos = tmp_path / "фото"
    (photos / "2023").mkdir(parents=True)
    (photos / "2024").mkdir()
    # One photo folder: it is «Все папки» already, so only its albums are offered.
    assert folder_choices([str(photos)]) == [str(photos / "2023"), str(photos / "2024")]
    # Two photo folders: each is a real choice.
    other = tmp_path / "телефон"
    other.mkdir()
    assert folder_choices([str(photos), str(other)]) == [
        str(photos),
        str(photos / "2023"),
        str(photos / "2024"),
        str(other),
    ]


def test_the_index_kind_is_said_in_words_and_an_unknown_kind_is_left_out():
    from ui.views import index_kind

    assert index_kind("flat-ip") == "точный, по всем фото"
    assert index_kind("ivf2048-sq8") == "быстрый, приближённый (для больших коллекций)"
    assert index_kind("hnsw32") is None


def test_a_path_breaks_only_after_its_separators_and_is_escaped():
    from ui.views import breakable_path

    assert breakable_path("/home/анна/фото-2024") == (
        "<span>/</span><wbr><span>home/</span><wbr><span>анна/</span><wbr><span>фото-2024</span>"
    )
    assert (
        breakable_path("C:\\Фото\\<лето>") == "<span>C:\\</span><wbr><span>Фото\\</span><wbr><span>&lt;лето&gt;</span>"
    )


def test_the_date_filter_steps_by_month_with_russian_names_or_by_day_for_a_short_span():
    from datetime import date

    from ui.views import date_steps

    months = date_steps(date(2023, 11, 20), date(2024, 2, 3))
    assert months == [
        ("ноябрь 2023", date(2023, 11, 1), date(2023, 11, 30)),
        ("декабрь 2023", date(2023, 12, 1), date(2023, 12, 31)),
        ("январь 2024", date(2024, 1, 1), date(2024, 1, 31)),
        ("февраль 2024", date(2024, 2, 1), date(2024, 2, 29)),  # a leap year
    ]
    days = date_steps(date(2024, 2, 27), date(2024, 3, 2))
    assert [label for label, _, _ in days] == [
        "27 февраля 2024",
        "28 февраля 2024",
        "29 февраля 2024",
        "1 марта 2024",
        "2 марта 2024",
    ]
    assert all(first == last for _, first, last in days)


def test_the_threshold_help_quotes_no_model_s_scale():
    from ui.views import THRESHOLD_HELP

    # True for any model: the demo scores its matches near 0.5-0.6, ruCLIP near 0.2-0.35.
    assert not re.search(r"\d", THRESHOLD_HELP) and "гистограмм" in THRESHOLD_HELP


def test_streamlit_s_names_are_given_in_russian_and_the_script_is_filled_in():
    from ui.chrome import NAMES, PATTERNS, script

    assert all(
        re.search("[а-яё]", said) and not re.search("[A-Za-z]{3,}", said.replace("PNG", "").replace("SVG", ""))
        for said in NAMES.values()
    )
    assert all(re.search("[а-яё]", said, re.IGNORECASE) for _, said in PATTERNS)
    filled = script()
    assert "NAMES" not in filled and "PATTERNS" not in filled and "ATTRIBUTES" not in filled
    assert '"Skip to main content": "Перейти к результатам"' in filled


def test_python_m_ui_and_the_config_file_set_the_same_streamlit_options(monkeypatch, tmp_path):
    import tomllib

    import ui.__main__

    started = []
    monkeypatch.setattr(ui.__main__.os, "execv", lambda program, argv: started.append(argv))
    ui.__main__.main(["--index", str(tmp_path)])
    [argv] = started
    flags = dict(
        zip(
            argv[argv.index("run") + 2 : argv.index("--") : 2],
            argv[argv.index("run") + 3 : argv.index("--") : 2],
            strict=True,
        )
    )
    config = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    from_file = {
        f"--{section}.{name}": str(value).lower()
        for section, values in config.items()
        for name, value in values.items()
    }
    assert from_file.items() <= {name: value.lower() for name, value in flags.items()}.items(), (from_file, flags)
    assert flags["--client.toolbarMode"] == "minimal"  # no ⋮ menu: its words are English
