"""The MLflow pyfunc wrapper of a bundle, logged as "model from code" (no pickle).

MLflow copies this file, the bundle and the project's package (``code_paths``) into every
registered model version, whose requirements.txt names only public packages, so
``mlflow.pyfunc.load_model("models:/imdb-sentiment/3").predict(pd.DataFrame({"text": [...]}))``
and ``mlflow models serve`` work in a clean environment; scoring goes through the same verified
loader as the API. Signature: a ``text`` string column in, P(positive) out.
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
    def predict(self, context, model_input, params=None):
        if hasattr(model_input, "columns"):
            column = "text" if "text" in model_input.columns else model_input.columns[0]
            model_input = model_input[column]
        return self.model.predict_proba([str(text) for text in model_input])


mlflow.models.set_model(BundleModel())
