"""User feedback on predictions: a validated record, a bounded background store, export and report.

Modules import SQLAlchemy and pyarrow only where they need them, so ``record`` stays cheap:

- :mod:`~imdb_sentiment.feedback.record`: :class:`Feedback`, validated like ``/predict`` input;
- :mod:`~imdb_sentiment.feedback.database`: the table, the engine, reading and deleting rows;
- :mod:`~imdb_sentiment.feedback.store`: :class:`FeedbackStore`, the service's bounded writer;
- :mod:`~imdb_sentiment.feedback.export`: every stored row to one Parquet file (path or s3://);
- :mod:`~imdb_sentiment.feedback.report`: live accuracy by model version (+ shadow agreement);
- :mod:`~imdb_sentiment.feedback.commands`: ``imdb-sentiment feedback ...``.
"""

# Where the store is when IMDB_SENTIMENT_FEEDBACK_DB is not set: relative to the working
# directory, beside the pipeline's data/.
DEFAULT_URL = "sqlite:///data/feedback/feedback.db"
