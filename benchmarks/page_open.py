"""What a user sees when opening the search page on a server just started: seconds until the page
shows Russian text, until Streamlit's own English is renamed (ui/chrome.py), and until the query box
is there (the model loaded). In a real browser: Playwright driving Chromium.

    python benchmarks/page_open.py --index data/demo-index            # 5 fresh servers, ru-RU
    python benchmarks/page_open.py --index data/demo-index --runs 3 --chromium /usr/bin/chromium

Each run starts `streamlit run ui/app.py` (from the repository this file is in), waits until it
answers its health check, then opens the page once: the model loads for that first page.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


# Seconds from the navigation's start (performance.now) at which the page first showed Russian text,
# had Streamlit's words renamed (ui/chrome.py sets lang="ru"), and showed the query box.
WATCH = """
window.seen = {};
const look = () => {
  const now = performance.now() / 1000, body = document.body;
  if (!seen.russian && body && /[а-яё]{3,}/i.test(body.innerText)) seen.russian = now;
  if (!seen.renamed && document.documentElement.lang === "ru") seen.renamed = now;
  if (!seen.ready && document.querySelector('input[aria-label="Что ищем?"]')) seen.ready = now;
};
setInterval(look, 20);
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def one_run(index: Path, chromium: str) -> dict[str, float | None]:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "ui" / "app.py"), "--server.port", str(port)]
    command += ["--server.address", "127.0.0.1", "--server.headless", "true", "--", "--index", str(index)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    server = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            tab = browser.new_context(locale="ru-RU").new_page()
            tab.add_init_script(WATCH)
            tab.goto(url)
            tab.get_by_role("textbox", name="Что ищем?").wait_for(timeout=120_000)
            tab.wait_for_function("() => window.seen.ready")
            seen = tab.evaluate("() => window.seen")
            browser.close()
        return {name: seen.get(name) for name in ("russian", "renamed", "ready")}
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="an index folder (data/demo-index)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    runs = [one_run(args.index.resolve(), args.chromium) for _ in range(args.runs)]
    for name in ("russian", "renamed", "ready"):
        values = [run[name] for run in runs if run[name] is not None]
        shown = ", ".join(f"{value:.2f}" for value in values) or "never"
        median = f"median {statistics.median(values):.2f} s" if values else ""
        print(f"{name}: {median} ({shown})")


if __name__ == "__main__":
    main()
