"""Streamlit's own words around the page, in Russian: the status widget, the accessible names of
its controls, the page's language. Imports nothing but Streamlit: ui/app.py draws it before the
page's heavy modules load.

Streamlit 1.67 has no locale. What its options can do, they do (.streamlit/config.toml and
ui/__main__.py: toolbarMode "minimal" with no menu items hides the ⋮ menu). The rest is done in the
browser: CSS replaces the status widget's "Running… Stop" with a Russian note (the widget itself
stays, so the user still sees that the page is working), and a small script renames Streamlit's
English accessible names (aria-label, title, placeholder) and texts ("Skip to main content") by the
table below, on every element Streamlit adds later too (a MutationObserver). Renaming, not hiding:
a screen reader keeps every control, in Russian. tests/test_ui_browser.py reads the page's text and
accessible names in a Russian and an English browser and fails on any English word, so a Streamlit
release that adds or rewords one is caught.
"""

from __future__ import annotations

import json

import streamlit as st

# Streamlit's English -> Russian: exact strings, then patterns (a JavaScript regular expression and
# its replacement; $1 is the widget's own label, already Russian).
NAMES: dict[str, str] = {
    "Skip to main content": "Перейти к результатам",
    "Sidebar": "Боковая панель",
    "Collapse sidebar": "Свернуть боковую панель",
    "Expand sidebar": "Развернуть боковую панель",
    "Main menu": "Меню",
    "Help": "Подсказка",
    "Open": "Открыть список",
    "Close": "Закрыть",
    "Dismiss": "Закрыть",  # react-aria's hidden button of a dialog, in an English browser
    "Clear value": "Очистить",
    "Clear all": "Очистить всё",
    "Choose an option": "Выберите",
    "Select...": "Выберите…",
    "No results": "Ничего нет",
    "Selected values": "Выбрано",  # a multiselect holding values (the tags filter)
    "file upload": "загрузка фото",
    "Add files": "Добавить фото",
    "Running...": "Страница обновляется…",
    "Stop script": "Остановить",
    "Fullscreen": "Во весь экран",
    "Close fullscreen": "Выйти из полноэкранного режима",
    "Download as PNG": "Скачать как PNG",
    "Download as SVG": "Скачать как SVG",
    "Copy Vega-Lite spec": "Скопировать описание графика",
    "Vega visualization": "График",
    "Increment": "Больше",
    "Decrement": "Меньше",
    "Notifications": "Уведомления",
    "Press Enter to apply": "Нажмите ⏎, чтобы искать",  # under the query box while it is being typed
    "add icon": "добавить",  # the uploader's hidden label beside its "+" icon
    # Vega's roles of a chart's parts (the chart's own aria is off: ui/views.py)
    "visualization": "график",
    "group mark container": "группа",
    "rect mark container": "столбцы",
    "rule mark container": "линия",
}
PATTERNS: list[tuple[str, str]] = [
    (r"^Help for (.+)$", "Подсказка: $1"),
    (r"^Remove (.+)$", "Убрать $1"),
    (r"^Upload (.+)$", "Загрузить $1"),
    (r"^(.+), ([\d.]+)KB$", "$1, $2 КБ"),  # an uploaded file's chip: "мой круг.jpg, 4.1KB"
    (r"^(.+), ([\d.]+)MB$", "$1, $2 МБ"),
    (r"^(.+), ([\d.]+)B$", "$1, $2 Б"),
    (r"^(.+) — start$", "$1 — начало"),  # a range slider's two thumbs
    (r"^(.+) — end$", "$1 — конец"),
]
_ATTRIBUTES = ["aria-label", "title", "placeholder", "alt", "aria-roledescription", "aria-description"]

_STYLE = """<style>
/* The status widget: "Running…", its running figure and "Stop" are drawn by Streamlit in English. */
[data-testid="stStatusWidget"] > * { display: none !important; }
[data-testid="stStatusWidget"]::before { content: "Обновляю…"; font-size: 0.875rem; opacity: 0.7; }
/* The page's own layout. Result cards of one height: a thumbnail, portrait or landscape, is fitted
   into the same box (ui/views.py keys each card "card-ID"). */
[class*="st-key-card-"] [data-testid="stImageContainer"] img {
  aspect-ratio: 4 / 3; object-fit: contain; width: 100%; background: rgba(128, 128, 128, 0.08);
}
/* A photo folder's path breaks after a separator (ui/views.py marks where), not inside a name. */
.photo-folder span { white-space: nowrap; }
</style>"""

_SCRIPT = """<script>
(() => {
  const names = NAMES, patterns = PATTERNS.map(([from, to]) => [new RegExp(from), to]), attributes = ATTRIBUTES;
  const russian = (text) => {
    const key = text.trim();
    if (Object.hasOwn(names, key)) return names[key];
    for (const [from, to] of patterns) if (from.test(key)) return key.replace(from, to);
    return null;
  };
  const rename = (root) => {
    const elements = root.querySelectorAll ? [root, ...root.querySelectorAll("*")] : [];
    for (const element of elements) {
      for (const attribute of attributes) {
        const value = element.getAttribute && element.getAttribute(attribute);
        const said = value && russian(value);
        if (said) element.setAttribute(attribute, said);
      }
      // A file input's own words ("No file chosen") come from the browser's language: the drop zone
      // around it is the control a user (and a screen reader) uses, so the hidden input is left out.
      if (element.matches && element.matches('input[type="file"]')) element.setAttribute("aria-hidden", "true");
    }
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const said = node.nodeValue.trim() && russian(node.nodeValue);
      if (said) node.nodeValue = said;
    }
  };
  const page = window.parent.document;
  if (page.documentElement.dataset.russianChrome) return;  // once per browser tab, not per rerun
  page.documentElement.dataset.russianChrome = "on";
  page.documentElement.lang = "ru";
  rename(page.body);
  new MutationObserver((changes) => {
    for (const change of changes) {
      if (change.type === "attributes") rename(change.target);
      else if (change.type === "characterData") rename(change.target.parentNode || page.body);
      else change.addedNodes.forEach((node) => rename(node.nodeType === 1 ? node : node.parentNode || page.body));
    }
  }).observe(page.body, {subtree: true, childList: true, characterData: true, attributes: true,
                         attributeFilter: attributes});
})();
</script>"""


def script() -> str:
    """The renaming script with its tables filled in."""
    return (
        _SCRIPT.replace("NAMES", json.dumps(NAMES, ensure_ascii=False))
        .replace("PATTERNS", json.dumps(PATTERNS))
        .replace("ATTRIBUTES", json.dumps(_ATTRIBUTES))
    )


def russian() -> None:
    """Streamlit's chrome in Russian on this page (call first: the status widget shows at once)."""
    # Apart: in one element with the script the <style> is dropped; and no "<" inside it (DOMPurify
    # drops a style whose text holds a tag).
    st.html(_STYLE)
    st.html(script(), unsafe_allow_javascript=True)
