"""Where the pipeline's files live, relative to the project root: one name per path.

The stage scripts, lineage tracking and the release checks all use these names; dvc.yaml repeats
them as deps and outs (``tests/unit/test_stage_deps.py`` checks that every out it declares is here).
"""

from pathlib import Path

PARAMS_FILE = Path("params.yaml")
DVC_LOCK = Path("dvc.lock")

DOWNLOADS = Path("data/download")
RAW_REVIEWS = Path("data/raw/reviews.parquet")
SPLITS = Path("data/split")
FEATURES = Path("data/features")
VECTORIZER = FEATURES / "vectorizer"
VAL_FEATURES = FEATURES / "val.npz"
CLASSIFIER = Path("data/train/classifier")  # the exported model's classifier (refit on train+val)
SELECTION = Path("data/train/selection")  # fitted on train only: scores validation honestly
BUNDLE = Path("models/imdb-sentiment")

TRAIN_LIVE = Path("metrics/train")  # dvclive's folder
TRAIN_METRICS = TRAIN_LIVE / "metrics.json"
TRAIN_PARAMS = TRAIN_LIVE / "params.yaml"  # dvclive writes the params it logged
METRICS = Path("metrics/metrics.json")
SHORT_METRICS = Path("metrics/short_reviews.json")
PLOTS = Path("metrics/plots")
MISTAKES = Path("metrics/mistakes_val.json")
ERROR_ANALYSIS = Path("metrics/error_analysis.md")
BEHAVIOUR = Path("metrics/behaviour.json")
BEHAVIOUR_CASES = Path("metrics/behaviour_cases.json")
