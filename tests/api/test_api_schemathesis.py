"""Property-based tests from the service's own OpenAPI schema, against a real uvicorn process.

Schemathesis generates valid and invalid requests for every operation; every answer must be a
documented status (never a 5xx) with a body that matches the schema. (Its pytest plugin does not
run under pytest 9.2, so the operations are driven through its Python API with Hypothesis.)
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode

pytestmark = pytest.mark.slow

EXPECTED_OPERATIONS = {
    ("POST", "/predict"),
    ("POST", "/predict/batch"),
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/model"),
    ("GET", "/metrics"),
    ("POST", "/feedback"),
    ("GET", "/shadow/disagreements"),
}
# Modest: the whole file stays around a minute on the 2-core CI machine.
EXAMPLES = {"POST": 80, "GET": 5}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_no_server_errors_and_responses_match_the_schema(
    limited_server: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_url(f"{limited_server}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} == EXPECTED_OPERATIONS
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and operation.method.upper() == "GET":
            continue  # they take no input: there is nothing to make invalid

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES[operation.method.upper()],
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            response = case.call_and_validate(base_url=limited_server, timeout=30)
            assert response.status_code < 500, response.text

        check()
