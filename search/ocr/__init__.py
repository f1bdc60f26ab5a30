"""Text in photos: the words a photo holds, read by Tesseract, normalised for Russian, searched in SQLite FTS5.

    words.py    words_of, stem (Snowball: Russian for Cyrillic, English for Latin), document_of (what an
                FTS5 row holds), query_words, fts_expression (a MATCH expression safe for any input),
                matched_words (the words as written that a query matched, for highlighting);
                PyStemmer only, imported on first use
    engine.py   TextReader (one Tesseract engine per process, rus+eng, a confidence floor), read_photo
                (a file opened as the indexer opens it), ocr_problem (is the engine and its language data
                here: cheap), engine_key (what a photo's recognised text depends on); tesserocr is
                imported inside its functions only

Importing this package imports neither tesserocr nor Pillow, numpy or torch: the query side (words.py)
runs in the page and the CLI, where OCR may not be installed.
"""
