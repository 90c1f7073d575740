"""The project's one base error, at the bottom layer so every module can subclass it.

Each module keeps its own error class (BundleError, ParamsError, ...) and also derives from the
builtin it always did (ValueError, RuntimeError), so existing ``except`` clauses keep working. A
caller that only needs "an expected failure, report it in one line" catches this base class
(see ``imdb_sentiment.training.stage``) and so need not import every module that may raise.
"""


class ImdbSentimentError(Exception):
    """An expected failure with a message meant for the user (no traceback needed)."""
