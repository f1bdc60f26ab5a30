"""The Streamlit app: a Russian query box, a thumbnail grid with scores, search by example image.

    streamlit run ui/app.py -- --index data/index      (or: python -m ui --index data/index)

app.py wires the page; settings.py reads its arguments; loading.py opens the model and the index
once per process; thumbnails.py makes the grid's pictures; uploads.py decodes an uploaded example
small; views.py draws each part of the page; messages.py says every error in Russian.
"""
