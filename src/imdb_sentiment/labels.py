"""The label vocabulary: class 0 is "negative", class 1 "positive".

A module of its own with no imports, so that every layer (model bundle, batch, deploy checks)
can name the labels from one place.
"""

LABELS = ("negative", "positive")
