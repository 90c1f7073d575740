"""Text clean-up shared by training and serving.

It is persisted *by reference* inside the exported vectorizer, so the exact same function runs
at training and at prediction time: there is no separate serving-side preprocessing to drift.
"""

from __future__ import annotations

import re

_HTML_TAG = re.compile(r"<[^>]{0,100}>")
_WHITESPACE = re.compile(r"\s+")


def clean_review(text: str) -> str:
    """Lowercase a review, drop HTML tags (IMDB reviews contain ``<br />``) and fold whitespace."""
    text = _HTML_TAG.sub(" ", text.lower())
    return _WHITESPACE.sub(" ", text).strip()


def strip_tags(text: str) -> str:
    """Lowercase and drop HTML tags: all a tokenizer that skips whitespace needs (faster)."""
    return _HTML_TAG.sub(" ", text.lower())
