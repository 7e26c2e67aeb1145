"""/openapi.json against a live node: schemathesis generates requests for every documented operation.

A real ``idnode serve --demo`` (10,000 identifiers with URL and GTIN values),
throwaway: writes with random data are fine. Every call carries the node
admin's bearer token, so the authenticated paths run too. A few
derandomized examples per operation keep the whole test bounded (< 60 s).
"""

from __future__ import annotations

import collections
import time

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from tests.node.conftest import Node

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.config import SchemathesisConfig  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 6  # per operation and phase
BUDGET_S = 60.0
CONFIG = {"generation": {"max-examples": EXAMPLES, "deterministic": True}}


@pytest.fixture(scope="module")
def live_node(tmp_path_factory):
    node = Node(tmp_path_factory.mktemp("schemathesis") / "data", "--demo").start()
    node.started = time.monotonic()  # type: ignore[attr-defined]
    yield node
    node.stop()


@pytest.fixture(scope="module")
def api_schema(live_node):
    return schemathesis.openapi.from_url(
        live_node.http + "/openapi.json", config=SchemathesisConfig.from_dict(CONFIG), timeout=10
    )


def _cases(schema, operation):
    """The operation's strategies: its documented examples, then generated valid and invalid requests."""
    yield "examples", schema.get_strategies_from_examples(operation)
    yield "positive", [operation.as_strategy()]
    yield "negative", [operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)]


def test_every_operation_conforms(api_schema, live_node):
    # Not schemathesis.pytest.from_fixture: its lazy loader sets Function._nodeid, which pytest 9 no longer has.
    headers = {"Authorization": f"Bearer {live_node.admin_token}"}
    failures: list[str] = []
    calls = [0]
    current = [""]  # the operation and mode being run
    statuses: collections.Counter[str] = collections.Counter()  # shown with -s: what the cases reached
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert operations, "no operation in /openapi.json"
    for operation in operations:
        for mode, strategies in _cases(api_schema, operation):
            for strategy in strategies:

                @settings(
                    max_examples=EXAMPLES,
                    derandomize=True,
                    deadline=None,
                    database=None,
                    phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failure is reported
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=strategy)
                def run(case):
                    assert time.monotonic() - live_node.started < BUDGET_S, "over the time budget"
                    calls[0] += 1
                    response = case.call(base_url=live_node.http, headers=headers, timeout=10)
                    statuses[f"{current[0]} {response.status_code}"] += 1
                    case.validate_response(response, checks=CHECKS)

                current[0] = f"{operation.label} {mode}"
                try:
                    run()
                except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
                    continue
                except (Exception, BaseExceptionGroup) as exc:  # schemathesis's FailureGroup is a BaseExceptionGroup
                    failures.append(f"{operation.label} ({mode}): {type(exc).__name__}: {str(exc)[:1500]}")
    print(f"schemathesis: {calls[0]} calls over {len(operations)} operations:", dict(sorted(statuses.items())))
    assert calls[0] >= len(operations), calls
    assert not failures, f"{len(failures)} failing operation/mode pairs:\n\n" + "\n\n".join(failures)
