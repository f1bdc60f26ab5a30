"""The query side of an index: a typed request in, hits (or why there are none) out.

    language.py     the query grammar («кот + снег − собака», «2:кот»)
    request.py      SearchRequest: what one search asks for, validated once
    results.py      Hit, DuplicateGroup, SearchResults and EmptyReason (why a search found nothing)
    vectors.py      the query vector: text terms (cached, prompt-ensembled) and an example image
    filters.py      folder and dates -> the ids a search may return
    ranking.py      the FAISS side: vectors kept current with the store, searched (IVF: nprobe grows)
    hits.py         ids and scores -> Hit, with the photo's details and its other files
    groups.py       near-duplicate groups, and one hit per group in a collapsed search
    photo_index.py  PhotoIndex and open_index: the facade that wires the above

Nothing is imported here, so that `search.query.language` and `search.query.results` stay light.
"""
