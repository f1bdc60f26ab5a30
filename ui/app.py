"""The search page's script. Run: streamlit run ui/app.py -- --index data/index   (or: python -m ui)

The title and the Russian chrome (ui/chrome.py) come first, before the page's modules are
imported: the first run of a server imports torch with them, and the browser would show a blank
page meanwhile. The page itself is ui/page.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

try:
    import ui  # noqa: F401 - installed with the project (pip install -e .)
except ImportError:  # a plain checkout: `streamlit run ui/app.py` puts only ui/ on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ui import chrome

st.set_page_config(page_title="Поиск по фото", layout="wide", menu_items={})
chrome.russian()
st.title("Поиск по фотографиям", anchor=False)
waiting = st.empty()  # the note while the page loads; emptied once the index is open
if "ui.page" not in sys.modules:  # the first run of this server: the import below takes a while
    waiting.info("Открываю поиск…")

from ui import page  # noqa: E402 - after the title: see the docstring

page.main(waiting)
