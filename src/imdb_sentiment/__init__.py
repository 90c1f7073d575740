"""IMDB review sentiment: a DVC pipeline that exports one verified model bundle.

Training code lives in ``imdb_sentiment.training``; everything that serves predictions
(``bundle``, ``text``, ``profile``) imports none of it.
"""

__version__ = "0.1.0"
