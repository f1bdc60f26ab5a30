"""The real page in a real browser: `streamlit run ui/app.py` on localhost, driven by Playwright in
Debian's headless Chromium. What is checked is read from the page itself (card captions, loaded
thumbnails, the visible text and the accessible names: no English word, in a Russian and in an
English browser; the layout of cards, paths and the histogram), and a screenshot of each step is
saved in tests/artifacts/. One server serves the whole module, over its own copy of the index; the
first test is the first to open the page, so it sees the model load, and the last one teaches a
category in that copy (the tests before it see the index as it was built).

Chromium comes from Debian (apt-get install chromium chromium-driver; .ci/run installs it); the
test is skipped without it on a developer's machine and fails without it in CI.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import REPO_ROOT, LabelledCollection, fresh_picture_jpeg

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Flags for a sandboxed, offline machine: no GPU, no background calls to Google's services.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CARD = re.compile(r"^(-?\d+\.\d\d) · (\S+) · (\S+)$")


def _browser_or_skip():
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium chromium-driver)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append('Playwright (pip install -e ".[dev]")')
        sync_playwright = None
    if missing:
        message = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(index: Path) -> Iterator[str]:
    """`streamlit run ui/app.py` over `index` on a free port, until the block ends; its URL."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(REPO_ROOT / "ui" / "app.py"),
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--",
        "--index",
        str(index),
        "--device",
        "cpu",
    ]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = (ARTIFACTS / "streamlit.log").open("w")
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start; see {ARTIFACTS / 'streamlit.log'}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def served_index(labelled_collection: LabelledCollection, tmp_path_factory) -> Path:
    """The module's own copy of the session's index: the last test teaches a category in it."""
    return Path(shutil.copytree(labelled_collection.index, tmp_path_factory.mktemp("browser") / "index"))


@pytest.fixture(scope="module")
def server(served_index: Path) -> Iterator[str]:
    with serving(served_index) as url:
        yield url


@pytest.fixture(scope="module")
def chromium(server):
    """One Chromium for the module; each test opens its own tabs in fresh contexts."""
    sync_playwright = _browser_or_skip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def new_tab(chromium, locale: str = "ru-RU"):
    return chromium.new_context(viewport={"width": 1400, "height": 1000}, locale=locale).new_page()


@pytest.fixture
def page(chromium, server):
    tab = new_tab(chromium)
    tab.goto(server)
    yield tab
    tab.context.close()


def shown_cards(tab) -> list[tuple[float, str, str]]:
    """(score, file name, date) of each result card, in page order, as the browser shows them."""
    texts = tab.locator('[data-testid="stMarkdownContainer"] p').all_inner_texts()
    found = [CARD.match(text.strip()) for text in texts]
    return [(float(m[1]), m[2], m[3]) for m in found if m]


def page_is_running(tab) -> bool:
    """Streamlit shows its status widget ("Running…") while the script runs."""
    return tab.locator('[data-testid="stStatusWidget"]').count() > 0


def wait_for_cards(tab, changed_from: list | None = None, timeout_s: float = 60) -> list[tuple[float, str, str]]:
    """The cards once the page has settled on a new set: the script has finished and the cards
    stayed the same over three looks (Streamlit redraws the page in place)."""
    deadline = time.monotonic() + timeout_s
    seen: list = []
    while time.monotonic() < deadline:
        cards = shown_cards(tab)
        seen = [*seen[-2:], cards]
        if cards and cards != changed_from and not page_is_running(tab) and seen.count(cards) == 3:
            return cards
        tab.wait_for_timeout(400)
    raise AssertionError(f"no new results within {timeout_s} s; the page shows {shown_cards(tab)}")


def thumbnails_loaded(tab, expected: int) -> int:
    """How many pictures the browser has decoded, once at least `expected` are on the page."""
    tab.wait_for_function(
        """(expected) => {
            const images = [...document.querySelectorAll('[data-testid="stImageContainer"] img')];
            return images.length >= expected && images.every(img => img.complete && img.naturalWidth > 0);
        }""",
        arg=expected,
        timeout=30_000,
    )
    return tab.locator('[data-testid="stImageContainer"] img').count()


def snap(tab, name: str) -> None:
    tab.screenshot(path=str(ARTIFACTS / f"ui-{name}.png"), full_page=True)


# What a user reads and a screen reader says: the visible text, then each element's accessible
# attributes and Chromium's accessibility tree (names, descriptions, values). Material icons are
# glyphs drawn from their names ("keyboard_double_arrow_left"): not read by anyone, left out.
READ_OUT = """() => {
  const attributes = ["aria-label", "title", "alt", "placeholder", "aria-valuetext", "aria-roledescription",
                      "aria-description"];
  const said = [document.title];
  for (const element of document.querySelectorAll("*"))
    for (const attribute of attributes) if (element.getAttribute(attribute)) said.push(element.getAttribute(attribute));
  const icons = [...document.querySelectorAll('[data-testid="stIconMaterial"]')];
  icons.forEach((icon) => icon.style.setProperty("display", "none"));  // for innerText only
  const text = document.body.innerText;
  icons.forEach((icon) => icon.style.removeProperty("display"));
  return {text, said, lang: document.documentElement.lang};
}"""
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
# Latin words a Russian page may show: image formats (the uploader's list, «Скачать как PNG»), the
# demo model's name as the sidebar gives it (`demo`), the model family. File names and the paths of
# this test's photos are taken out before (the user's own names are not the page's words).
ALLOWED = {"JPEG", "PNG", "WebP", "HEIC", "SVG", "RAW", "demo", "ruCLIP"}
FILE_NAME = re.compile(r"[\w.-]+\.(?:jpe?g|png|webp|heic|txt)\b", re.IGNORECASE)


def english_words(tab, cdp, photos: Path, also: set[str] = frozenset()) -> dict[str, set[str]]:
    """Every English word the page shows or says, by where it was found (empty: all Russian); `also`:
    the Latin words of the user's own data on the page (a camera's name)."""
    read = tab.evaluate(READ_OUT)
    tree = cdp.send("Accessibility.getFullAXTree")["nodes"]
    spoken = [
        field["value"]
        for node in tree
        if not node.get("ignored")
        for field in (node.get("name"), node.get("description"), node.get("value"))
        if field and isinstance(field.get("value"), str)
    ]
    ours = set(LATIN_WORD.findall(str(photos))) | ALLOWED | also  # the photo folder, broken into parts too

    def english(texts: list[str]) -> set[str]:
        return {word for said in texts for word in LATIN_WORD.findall(FILE_NAME.sub(" ", said)) if word not in ours}

    found = {"text": english([read["text"]]), "attributes": english(read["said"])}
    found["accessibility tree"] = english(spoken)
    if read["lang"] != "ru":
        found["html lang"] = {read["lang"] or "(none)"}
    return {where: words for where, words in found.items() if words}


def russian_shown_after(tab, started: float, timeout_s: float = 30) -> float:
    """Seconds from `started` until the page shows Cyrillic text (the title or a note)."""
    tab.wait_for_function("() => /[а-яё]{3,}/i.test(document.body.innerText)", timeout=timeout_s * 1000, polling=50)
    return time.monotonic() - started


def test_the_page_is_russian_from_the_first_second_in_russian_and_english_browsers(
    chromium, server, labelled_collection
):
    photos = labelled_collection.photos
    timings = {}
    for locale in ("ru-RU", "en-US"):  # ru-RU first: this module's first page, the model not loaded yet
        tab = new_tab(chromium, locale)
        cdp = tab.context.new_cdp_session(tab)
        started = time.monotonic()
        tab.goto(server)
        first_russian = russian_shown_after(tab, started)
        if locale == "ru-RU":  # the server's first page: the model loads meanwhile, and the page says so
            note = tab.get_by_text(re.compile("Открываю поиск|Загружаю модель"))
            note.first.wait_for(timeout=10_000)
        # Streamlit's own shell (its skip link, lang="en") is there before the first script run; the
        # chrome's script (ui/chrome.py) renames it once the browser has loaded it.
        tab.wait_for_function("() => document.documentElement.lang === 'ru'", timeout=10_000, polling=50)
        renamed = time.monotonic() - started
        tab.wait_for_timeout(max(0.0, 1.0 - (time.monotonic() - started)) * 1000)
        snap(tab, f"10-first-second-{locale}")
        at_first_second = english_words(tab, cdp, photos)
        box = tab.get_by_role("textbox", name="Что ищем?")
        box.wait_for(timeout=120_000)
        ready = time.monotonic() - started
        timings[locale] = {"first Russian text": first_russian, "Streamlit renamed": renamed, "search ready": ready}
        assert english_words(tab, cdp, photos) == {}, locale
        assert at_first_second == {}, locale

        box.fill("красная звезда")
        tab.locator('[data-testid="InputInstructions"]').wait_for(timeout=10_000)  # "Press Enter to apply"
        assert english_words(tab, cdp, photos) == {}, locale
        box.press("Enter")
        tab.wait_for_timeout(150)  # the script is running: Streamlit's status widget is up
        while_running = english_words(tab, cdp, photos)
        wait_for_cards(tab)
        tab.locator('[data-testid="stVegaLiteChart"]').wait_for(timeout=30_000)
        snap(tab, f"11-query-{locale}")
        assert while_running == {} and english_words(tab, cdp, photos) == {}, locale

        tab.get_by_role("checkbox", name="По дате съёмки").check(force=True)  # the sidebar overlaps its box
        dates = tab.get_by_role("slider", name=re.compile("Снято между"))
        dates.first.wait_for(timeout=30_000)
        shown = tab.locator('[data-testid="stSidebar"]').inner_text()
        assert "июнь 2023" in shown and "май 2025" in shown, shown  # Russian months in either browser
        dates.first.focus()
        tab.keyboard.press("ArrowRight")  # the date control in use: a month later
        tab.get_by_text("июль 2023").first.wait_for(timeout=30_000)
        snap(tab, f"12-dates-{locale}")
        assert english_words(tab, cdp, photos) == {}, locale

        # Streamlit's status widget ("Running…", its running figure, "Stop") shows for a moment on each
        # rerun: one put on the page as Streamlit draws it shows the Russian note instead.
        status = tab.evaluate(
            """() => {
                const widget = document.createElement("div"); widget.dataset.testid = "stStatusWidget";
                widget.innerHTML = "<img alt='Running...'><label>Running...</label><button>Stop</button>";
                document.querySelector('[data-testid="stMainBlockContainer"]').append(widget);
                const shown = [getComputedStyle(widget, "::before").content, widget.innerText.trim()];
                widget.remove();
                return shown;
            }"""
        )
        assert status == ['"Обновляю…"', ""], status
        # Streamlit's ⋮ menu ("Print", "Record screen", "Made with Streamlit") is not there to open:
        # toolbarMode "minimal" with no menu items (.streamlit/config.toml, ui/__main__.py).
        assert tab.locator('[data-testid="stMainMenu"]').count() == 0
        # The large view: its dialog's controls (react-aria names a hidden one in the browser's language).
        tab.get_by_role("button", name="Открыть", exact=True).first.click()
        tab.get_by_role("dialog").get_by_role("button", name="Похожие на это фото").wait_for(timeout=60_000)
        camera = {"Demo", "Shapes", "Camera"}  # the photo's own camera model (EXIF), as training/demo.py writes it
        assert english_words(tab, cdp, photos, also=camera) == {}, locale
        tab.context.close()
    (ARTIFACTS / "ui-timings.json").write_text(json.dumps(timings, indent=2))
    print("seconds after opening the page:", json.dumps(timings))
    first = timings["ru-RU"]  # the server's first page: the model was not loaded
    assert first["first Russian text"] < 2.0 and first["Streamlit renamed"] < 3.0, timings  # not after the model


def test_the_english_check_sees_english(chromium, server, labelled_collection):
    # english_words must be able to fail: Streamlit's own words, put back on the page, are found.
    tab = new_tab(chromium, "en-US")
    cdp = tab.context.new_cdp_session(tab)
    tab.goto(server)
    tab.get_by_role("textbox", name="Что ищем?").wait_for(timeout=120_000)
    assert english_words(tab, cdp, labelled_collection.photos) == {}
    tab.evaluate(
        """() => {
            const button = document.createElement("button"); button.setAttribute("aria-label", "Made with Streamlit");
            const note = document.createElement("p"); note.textContent = "Record screen";
            document.querySelector('[data-testid="stMainBlockContainer"]').append(button, note);
        }"""
    )
    found = english_words(tab, cdp, labelled_collection.photos)
    assert found["attributes"] == {"Made", "with", "Streamlit"} and found["text"] == {"Record", "screen"}, found
    tab.context.close()


def test_cards_are_one_height_paths_break_at_separators_and_the_histogram_fits(page, labelled_collection):
    box = page.get_by_role("textbox", name="Что ищем?")
    box.wait_for(timeout=120_000)
    box.fill("звезда")
    box.press("Enter")
    cards = wait_for_cards(page)
    thumbnails_loaded(page, len(cards))
    # A portrait thumbnail (a 1:3 picture) in the first card: every card's picture box keeps one height.
    heights = page.evaluate(
        """async () => {
            const canvas = document.createElement("canvas"); canvas.width = 100; canvas.height = 300;
            const card = '[class*="st-key-card-"] [data-testid="stImageContainer"] img';
            const images = [...document.querySelectorAll(card)];
            images[0].src = canvas.toDataURL("image/png");
            await new Promise((done) => images[0].complete ? done() : images[0].addEventListener("load", done));
            return images.map((img) => img.getBoundingClientRect().height);
        }"""
    )
    assert len(heights) == len(cards) and max(heights) - min(heights) < 1, heights

    # The photo folder's path in a narrow column: each line ends at a separator, no name is cut.
    lines = page.evaluate(
        """() => {
            const path = document.querySelector(".photo-folder"); path.parentElement.style.width = "9em";
            const lines = [], range = document.createRange();
            const walker = document.createTreeWalker(path, NodeFilter.SHOW_TEXT);
            for (let node = walker.nextNode(); node; node = walker.nextNode())
                for (let i = 0; i < node.length; i++) {
                    range.setStart(node, i); range.setEnd(node, i + 1);
                    const top = Math.round(range.getBoundingClientRect().top);
                    if (!lines.length || Math.abs(lines[lines.length - 1].top - top) > 3) lines.push({top, text: ""});
                    lines[lines.length - 1].text += node.data[i];
                }
            return lines.map((line) => line.text);
        }"""
    )
    assert "".join(lines) == str(labelled_collection.photos) and len(lines) > 1, lines
    assert all(line.endswith("/") for line in lines[:-1]), lines

    # A folder filter on: the histogram's labels stay inside the chart.
    page.get_by_role("combobox", name=re.compile("Папка")).click()
    page.get_by_role("option", name=re.compile("2024 зима")).click()
    page.wait_for_timeout(500)
    wait_for_cards(page, changed_from=cards)
    chart = page.locator('[data-testid="stVegaLiteChart"] svg').first
    chart.wait_for(timeout=30_000)
    outside = page.evaluate(
        """() => {
            const svg = document.querySelector('[data-testid="stVegaLiteChart"] svg').getBoundingClientRect();
            return [...document.querySelectorAll('[data-testid="stVegaLiteChart"] svg text')]
                .filter((t) => getComputedStyle(t).opacity !== "0")  // Vega hides labels that overlap
                .map((t) => [t.textContent, t.getBoundingClientRect()])
                .filter(([, r]) => r.right > svg.right + 0.5 || r.left < svg.left - 0.5).map(([t]) => t);
        }"""
    )
    snap(page, "13-layout")
    assert outside == []


def test_type_a_query_see_the_right_photos_then_similar_then_upload(page, labelled_collection, tmp_path):
    labels = labelled_collection.label_of
    box = page.get_by_role("textbox", name="Что ищем?")
    box.wait_for(timeout=60_000)
    snap(page, "1-start")

    box.fill("красная звезда")
    box.press("Enter")
    cards = wait_for_cards(page)
    snap(page, "2-query")
    names = [name for _, name, _ in cards]
    # The collection holds two red stars: the first cards on the page.
    assert labelled_collection.names_labelled("красный", "звезда") <= set(names[:3])
    assert labels[names[0]] == ("красный", "звезда")
    assert thumbnails_loaded(page, len(cards)) == len(cards)

    first = names[0]
    page.get_by_role("button", name="Похожие", exact=True).first.click()
    page.get_by_text(f"Ищу похожие на {first}").wait_for(timeout=60_000)
    similar = wait_for_cards(page, changed_from=cards)
    snap(page, "3-similar")
    similar_names = [name for _, name, _ in similar]
    assert first not in similar_names
    assert labels[similar_names[0]] == labels[first]  # the other red star
    assert thumbnails_loaded(page, len(similar) + 1) == len(similar) + 1  # and the example's own picture

    assert box.input_value() == ""  # «Похожие» searches by the photo alone: the page took the words away
    upload = tmp_path / "мой круг.jpg"
    upload.write_bytes(fresh_picture_jpeg("жёлтый", "круг"))
    page.locator('input[type="file"]').set_input_files(str(upload))
    page.get_by_text("Ищу похожие на мой круг.jpg").wait_for(timeout=60_000)
    uploaded = wait_for_cards(page, changed_from=similar)
    snap(page, "4-upload")
    uploaded_names = [name for _, name, _ in uploaded]
    assert labels[uploaded_names[0]] == ("жёлтый", "круг")
    assert all(labels[n][0] == "жёлтый" for n in uploaded_names[:3])

    page.get_by_role("button", name="Открыть", exact=True).first.click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for(timeout=60_000)
    dialog.get_by_text(uploaded_names[0]).first.wait_for()
    snap(page, "5-large-view")
    camera = {"Demo", "Shapes", "Camera"}  # the photo's own camera model (EXIF), as training/demo.py writes it
    found = english_words(page, page.context.new_cdp_session(page), labelled_collection.photos, also=camera)
    assert found == {}  # the dialog's ✕ and the uploaded file's chip too
    path = next(labelled_collection.photos.rglob(uploaded_names[0]))
    assert str(path) in dialog.inner_text()


# Streamlit's own English in its uploader (it has no locale): ui/views.py hides it and draws Russian.
UPLOADER_ENGLISH = ("drag and drop", "browse files", "limit", "per file", "upload", "not allowed", "error")
DROPZONE = '[data-testid="stFileUploaderDropzone"]'


def english_shown(tab) -> list[str]:
    """The uploader's English words a user can read: the page's visible text (innerText leaves out
    what CSS hides, and a Material icon's name counts: it is text in an icon font)."""
    text = tab.locator("body").inner_text().lower()
    return [word for word in UPLOADER_ENGLISH if word in text]


def drawn(tab, selector: str, pseudo: str) -> str:
    """The text CSS draws in `selector`'s ::before or ::after."""
    return tab.eval_on_selector(selector, "(el, pseudo) => getComputedStyle(el, pseudo).content", pseudo)


def test_the_uploader_and_its_errors_are_in_russian(page, tmp_path):
    page.get_by_role("textbox", name="Что ищем?").wait_for(timeout=60_000)
    page.locator(DROPZONE).wait_for()
    snap(page, "6-uploader")
    assert english_shown(page) == []
    instructions = '[data-testid="stFileUploaderDropzoneInstructions"]'
    assert drawn(page, instructions, "::before") == '"Перетащите фото сюда или нажмите «Выбрать»"'
    assert re.fullmatch(r'"до \d+ МБ · JPEG, PNG, WebP, HEIC и другие"', drawn(page, instructions, "::after"))
    button = f'{DROPZONE} [data-testid="stBaseButton-secondary"]'
    assert drawn(page, button, "::after") == '"Выбрать"' and page.locator(button).is_visible()

    # Dragging a file over the page: Streamlit would say "Drag and drop a file here".
    dragged = page.evaluate_handle(
        "() => { const d = new DataTransfer(); d.items.add(new File(['x'], 'a.jpg', {type: 'image/jpeg'})); return d; }"
    )
    page.dispatch_event(DROPZONE, "dragenter", {"dataTransfer": dragged})
    overlay = f"{DROPZONE} > div:not([data-testid]):not(:has([data-testid]))"
    page.locator(overlay).wait_for(state="attached", timeout=10_000)
    assert drawn(page, overlay, "::after") == '"Отпустите фото здесь"'
    assert english_shown(page) == []
    page.dispatch_event(DROPZONE, "dragleave", {"dataTransfer": dragged})

    # A file the uploader refuses by its type: Streamlit's chip would say "Error: text/plain files are not allowed."
    notes = tmp_path / "заметки.txt"
    notes.write_text("не фото")
    page.locator('input[type="file"]').set_input_files(str(notes))
    page.locator('[data-testid="stFileChip"]').wait_for(timeout=10_000)
    snap(page, "7-uploader-refused-type")
    assert english_shown(page) == []
    page.locator('[data-testid="stFileChipDeleteBtn"] button').click()

    # A file that claims to be a JPEG and is not: the page names it, in Russian, with no object's repr.
    fake = tmp_path / "сломан.jpg"
    fake.write_bytes(b"not really a jpeg")
    page.locator('input[type="file"]').set_input_files(str(fake))
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="Не удалось прочитать")
    alert.wait_for(timeout=60_000)
    snap(page, "8-upload-unreadable")
    assert alert.inner_text().strip() == "Не удалось прочитать «сломан.jpg»: это не изображение или файл повреждён."
    assert english_shown(page) == [] and "UploadedFile" not in page.locator("body").inner_text()


def test_a_category_is_taught_in_the_browser_and_shows_in_the_overview(
    chromium, server, served_index, labelled_collection
):
    """The whole life of a category in a real browser: «Обзор» (a tile per tag with its count and a
    cover), a tile's photos, the teaching panel and the cards' «пример» boxes, two ticked «пример», a
    name, «Научить», one «не то», «Переобучить», and the category's tile in «Обзор»; all read out in
    Russian at each step. Runs last of the module: it changes the index the module's server serves."""
    import search

    own, photos = served_index, labelled_collection.photos
    tab = new_tab(chromium)
    cdp = tab.context.new_cdp_session(tab)
    tab.goto(server)
    overview = tab.get_by_role("button", name="Обзор", exact=True)
    overview.wait_for(timeout=120_000)
    overview.click()
    with search.open_labels(own) as labels:
        circles = next(tag.count for tag in labels.tags() if tag.name == "круг")
    tile = tab.get_by_role("button", name=f"круг · {circles}", exact=True)
    tile.wait_for(timeout=60_000)
    tab.get_by_text("Обзор коллекции").wait_for()
    thumbnails_loaded(tab, 1)
    snap(tab, "6-overview")
    assert english_words(tab, cdp, photos) == {}
    tile.click()
    cards = wait_for_cards(tab)
    snap(tab, "7-tag-photos")
    shown = {name for _, name, _ in cards}
    assert shown and len(shown) == min(circles, len(cards))  # each photo of the tag once
    assert [labelled_collection.label_of[name][1] for _, name, _ in cards].count("круг") >= 0.8 * len(cards)
    tab.get_by_text("Научить категорию", exact=True).click()
    tab.get_by_text("Отметьте «пример» у фото будущей категории", exact=False).wait_for(timeout=60_000)
    boxes = tab.get_by_text("пример", exact=True)
    boxes.first.wait_for(timeout=60_000)
    snap(tab, "8-teach")
    assert english_words(tab, cdp, photos) == {}
    boxes.nth(0).click()
    tab.get_by_text("отмечено: 1", exact=False).wait_for(timeout=30_000)
    boxes.nth(1).click()
    tab.get_by_text("отмечено: 2", exact=False).wait_for(timeout=30_000)
    name = tab.get_by_role("textbox", name="Название")
    name.fill("мои круги")
    name.press("Enter")
    tab.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000)
    snap(tab, "11-teach-ticked")
    assert english_words(tab, cdp, photos) == {}
    tab.get_by_role("button", name="Научить", exact=True).click()
    tab.get_by_text("Категория «мои круги» научена по 2 примерам", exact=False).wait_for(timeout=60_000)
    members = wait_for_cards(tab)
    snap(tab, "12-category-members")
    assert english_words(tab, cdp, photos) == {}
    with search.open_labels(own) as labels:
        taught = labels.category("мои круги")
    assert len(taught.examples) == 2 and len(members) == min(taught.members, len(members))
    wrong = tab.get_by_text("не то", exact=True)
    wrong.last.click()
    tab.get_by_text("«не то»: 1", exact=False).wait_for(timeout=30_000)
    tab.get_by_role("button", name="Переобучить", exact=True).click()
    tab.get_by_text("Категория «мои круги» переобучена", exact=False).wait_for(timeout=60_000)
    with search.open_labels(own) as labels:
        corrected = labels.category("мои круги")
    assert len(corrected.not_examples) == 1
    overview.click()
    tab.get_by_role("button", name=f"мои круги · {corrected.members}", exact=True).wait_for(timeout=60_000)
    tab.get_by_text("Свои категории", exact=True).wait_for()
    with search.open_labels(own) as labels:
        tiles = 1 + sum(1 for tag in labels.tags() if tag.count)
    assert thumbnails_loaded(tab, tiles) == tiles  # a cover on every tile, and the search's cards gone
    snap(tab, "13-overview-with-category")
    assert english_words(tab, cdp, photos) == {}
    tab.context.close()
