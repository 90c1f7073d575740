"""The MLflow pyfunc wrapper of a bundle, logged as "model from code" (no pickle).

MLflow copies this file next to the bundle in every registered model version, so
``mlflow.pyfunc.load_model("models:/imdb-sentiment@champion").predict(["..."])`` works for anyone
with imdb-sentiment installed; it scores through the same verified loader as the API.
"""

from __future__ import annotations

from typing import Any

import mlflow
from mlflow.pyfunc import PythonModel


class BundleModel(PythonModel):
    """Texts (a list, a Series, or a DataFrame with a ``text`` column) -> P(positive)."""

    def load_context(self, context: Any) -> None:
        from imdb_sentiment.bundle import load_bundle

        self.model = load_bundle(context.artifacts["bundle"])

    # No type hints on purpose: MLflow would turn them into a (wrong) input schema.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        if hasattr(model_input, "columns"):
            column = "text" if "text" in model_input.columns else model_input.columns[0]
            model_input = model_input[column]
        return self.model.predict_proba([str(text) for text in model_input])


mlflow.models.set_model(BundleModel())
