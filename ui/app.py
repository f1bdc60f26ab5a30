"""The search page's script. Run: streamlit run ui/app.py -- --index data/index   (or: python -m ui)

The title and the Russian chrome (ui/chrome.py) come first, before the page's modules are
imported: the first run of a server imports torch with them, and the browser would show a blank
page meanwhile. A session's first run draws only these and a note, then reruns a moment later:
the browser renames Streamlit's English (its skip link, the sidebar's buttons) once it has loaded
the chrome's script, and with a light first run it loads it before the page's controls arrive. The
page itself is ui/page.py.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import streamlit as st

try:
    import ui  # noqa: F401 - installed with the project (pip install -e .)
except ImportError:  # a plain checkout: `streamlit run ui/app.py` puts only ui/ on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ui import chrome

OPENING = "Открываю поиск…"
FIRST_RUN_S = 0.2  # a session's first run shows the title and the note this long before the page


def _preload(argv: list[str]) -> None:
    from ui import page

    page.preload(argv)


@st.fragment(run_every=FIRST_RUN_S)
def _then_the_page() -> None:
    """Nothing when drawn; on its next run (FIRST_RUN_S later), the whole page."""
    if st.session_state.get("opening_shown"):
        st.session_state.opened_once = True
        st.rerun(scope="app")
    st.session_state.opening_shown = True


st.set_page_config(page_title="Поиск по фото", layout="wide", menu_items={})
chrome.russian()
st.title("Поиск по фотографиям", anchor=False)
waiting = st.empty()  # the note while the page loads; emptied once the index is open
if not st.session_state.get("opened_once"):
    waiting.info(OPENING)
    # Meanwhile the page's modules are imported and the model starts loading, in a thread of their own.
    threading.Thread(target=_preload, args=(sys.argv[1:],), name="preload", daemon=True).start()
    _then_the_page()
    st.stop()
if "ui.page" not in sys.modules:  # the first session of this server: the import below takes a while
    waiting.info(OPENING)

from ui import page  # noqa: E402 - after the title: see the docstring

page.main(waiting)
