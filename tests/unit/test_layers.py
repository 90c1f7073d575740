"""Imports point one way: model format -> bundle -> registry -> services -> entry points.

Every ``import`` in src/imdb_sentiment, app/ and stages/ is read with ``ast`` (function-level
imports included, since deferred imports are still dependencies), and the resulting graph must have
no cycle and no edge from a lower layer to a higher one.
"""

from __future__ import annotations

from helpers.import_graph import import_graph

# Lowest first. A module may import modules of its own layer or lower ones. Names are module
# prefixes: "imdb_sentiment.batch" covers the whole package. The longest matching prefix wins.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "model format",
        (
            "imdb_sentiment",  # the package's __init__ (version only)
            "imdb_sentiment.errors",
            "imdb_sentiment.settings",
            "imdb_sentiment.labels",
            "imdb_sentiment.text",
            "imdb_sentiment.key_table",
            "imdb_sentiment.token_ids",
            "imdb_sentiment.ngrams",
            "imdb_sentiment.model_format",
            "imdb_sentiment.integrity",
            "imdb_sentiment.profile",
            "imdb_sentiment.files",
        ),
    ),
    ("bundle", ("imdb_sentiment.bundle",)),
    ("registry", ("imdb_sentiment.registry", "imdb_sentiment.mlflow_model")),
    (
        "services",
        (
            "app",
            "imdb_sentiment.batch",
            "imdb_sentiment.feedback",
            "imdb_sentiment.training",
            "imdb_sentiment.tracking",
            "imdb_sentiment.release",
            "imdb_sentiment.gates",
            "imdb_sentiment.deploy",
            "imdb_sentiment.report",
        ),
    ),
    ("entry points", ("imdb_sentiment.cli", "stages")),
]
# Serving code must not pull in training code (it would load scikit-learn's fitting stack and
# the DVC-side modules into the API and the batch workers).
SERVING = ("app", "imdb_sentiment.batch", "imdb_sentiment.feedback")
TRAINING = ("imdb_sentiment.training", "imdb_sentiment.tracking")


def layer_of(module: str) -> int:
    best, best_length = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > best_length:
                best, best_length = index, len(prefix)
    assert best is not None, f"{module} has no layer: declare it in LAYERS"
    return best


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_import_graph_covers_the_known_layers() -> None:
    graph = import_graph()
    # The walker must see the edges everyone relies on, or the checks below prove nothing.
    assert "imdb_sentiment.bundle" in graph["imdb_sentiment.registry"]
    assert "imdb_sentiment.model_format" in graph["imdb_sentiment.bundle"]
    assert "imdb_sentiment.registry" in graph["imdb_sentiment.cli"]  # a function-level import
    for module in graph:
        layer_of(module)


def test_no_module_imports_a_higher_layer() -> None:
    graph = import_graph()
    violations = [
        f"{source} ({LAYERS[layer_of(source)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for source, targets in sorted(graph.items())
        for target in sorted(targets)
        if layer_of(target) > layer_of(source)
    ]
    assert not violations, "\n".join(violations)


def test_src_never_imports_app() -> None:
    graph = import_graph()
    offenders = [
        f"{source} imports {target}"
        for source, targets in sorted(graph.items())
        if source.startswith("imdb_sentiment")
        for target in sorted(targets)
        if target == "app" or target.startswith("app.")
    ]
    assert not offenders, "\n".join(offenders)


def test_serving_code_imports_no_training_code() -> None:
    graph = import_graph()
    offenders = [
        f"{source} imports {target}"
        for source, targets in sorted(graph.items())
        if source.startswith(SERVING)
        for target in sorted(targets)
        if target.startswith(TRAINING)
    ]
    assert not offenders, "\n".join(offenders)


def test_the_import_graph_has_no_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_checks_catch_a_cycle_and_an_upward_import() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert layer_of("imdb_sentiment.bundle") < layer_of("imdb_sentiment.registry")
    assert layer_of("imdb_sentiment.batch.flow") > layer_of("imdb_sentiment.registry")
