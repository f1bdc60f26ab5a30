"""The Streamlit app: a Russian query box, a thumbnail grid with scores, search by example image.

    streamlit run ui/app.py -- --index data/index      (or: python -m ui --index data/index)

app.py draws the title and chrome.py (Streamlit's own words in Russian) first, then page.py wires
the page; settings.py reads its arguments; loading.py loads the model and the index once per
process, in a background thread; thumbnails.py makes the grid's pictures; views.py draws each part
of the page; messages.py says every error in Russian.
"""
