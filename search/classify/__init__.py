"""What is in a photo: the zero-shot classifier and the linear probe, on the model's unit vectors.

    zeroshot.py   class names × prompt templates -> one unit text vector per class; logits by a matrix product
    probe.py      a linear probe (logistic regression, scikit-learn) on image vectors, its C chosen on a
                  validation split; applied with numpy alone
    metrics.py    top-k accuracy, mean per-class recall, image–text retrieval recall@k (numpy)
    features.py   image files -> unit image vectors, decoded as the indexer decodes them, cached in chunks
                  that a later run resumes from

Both `python -m search evaluate` (search/evaluate/) and the product's tags and categories use these, so
that what the command measures is what the product does. Importing this package imports nothing heavy.
"""
