"""Text clean-up shared by training and serving.

It is persisted *by reference* inside the exported vectorizer, so the exact same function runs
at training and at prediction time: there is no separate serving-side preprocessing to drift.
"""

from __future__ import annotations

import re

HTML_TAG = re.compile(r"<[^>]{0,100}>")
_WHITESPACE = re.compile(r"\s+")


def clean_review(text: str) -> str:
    """Lowercase a review, drop HTML tags (IMDB reviews contain ``<br />``) and fold whitespace."""
    text = HTML_TAG.sub(" ", text.lower())
    return _WHITESPACE.sub(" ", text).strip()


def strip_tags(text: str) -> str:
    """Lowercase and drop HTML tags: all a tokenizer that skips whitespace needs (faster)."""
    return HTML_TAG.sub(" ", text.lower())


# What counts as whitespace when a text must hold one visible character. `\S` means different
# things in Python and in JSON Schema's ECMA-262 regexes (U+0085, U+FEFF...), so the class lists
# the union of both whitespace sets: services and schema-driven clients then agree on every text.
WHITESPACE = r"\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
VISIBLE = re.compile(f"[^{WHITESPACE}]")


def has_visible_text(text: str) -> bool:
    """Whether ``text`` holds at least one character that is not whitespace (see WHITESPACE)."""
    return VISIBLE.search(text) is not None
