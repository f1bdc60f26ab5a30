"""The real page in a real browser: `streamlit run ui/app.py` on localhost, driven by Playwright in
Debian's headless Chromium. What is checked is read from the page itself (card captions, loaded
thumbnails, the visible text: no English in Streamlit's uploader), and a screenshot of each step is
saved in tests/artifacts/.

Chromium comes from Debian (apt-get install chromium chromium-driver; .ci/run installs it); the
test is skipped without it on a developer's machine and fails without it in CI.
"""

from __future__ import annotations

import os
import re
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


@pytest.fixture(scope="module")
def server(labelled_collection: LabelledCollection) -> Iterator[str]:
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
        str(labelled_collection.index),
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


@pytest.fixture
def page(server):
    sync_playwright = _browser_or_skip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="ru-RU")
        tab.goto(server)
        yield tab
        browser.close()


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

    box.fill("")  # words and picture combine; this step searches by the picture alone
    box.press("Enter")
    similar = wait_for_cards(page, changed_from=similar)
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
