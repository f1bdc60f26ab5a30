"""Tags and categories of a collection, from the photos' stored vectors: the classifiers of
search/classify applied to an index's photos and kept in its store (search/store/labels.py).

    apply.py       the vocabulary embedded for the index's model; tags and categories of photos
    collection.py  CollectionLabels: what the API, the CLI and the page ask (list, add, teach, remove)
    results.py     what it answers: TagSummary, CategorySummary, Member (light, no numpy)

The build's label stage (indexer/label.py) and PhotoIndex both go through apply.py, so a photo gets
the same tags whether it came with a build or a tag was added later.
"""
