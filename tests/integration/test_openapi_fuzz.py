"""Schemathesis against each context's own OpenAPI document, on a real worker and the real broker:
every generated request, valid and invalid, gets no 5xx and an answer the document describes
(a documented status code, its content type, a body that fits its schema).

One worker per context, fuzzed once it is fully ready: a 503 (the owner of a key not known yet)
counts as a failure here too, since nothing rebalances during the run. The order worker runs
with a bearer token and the fuzzer sends it, so mutating calls are fuzzed past the 401 too.
"""

import json
import time
import urllib.error
import urllib.request

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (FailureGroup, content_type_conformance, ignored_auth,
                                 not_a_server_error, response_headers_conformance,
                                 response_schema_conformance, status_code_conformance)

from tests.integration.system import CONTEXTS

pytestmark = pytest.mark.kafka

TOKEN = "fuzz-token-5"
AUTHORIZED = "order"
MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
# The long poll waits up to `timeout` for an order to reach `wait_for`, and an unknown order
# (every fuzzed id) is one a client may just have placed, so it waits the whole timeout on
# purpose. Fuzzing it would be minutes of sleeping; its own tests cover it.
LONG_POLL = ("/orders/{order_id}", "get", "wait_for")
# The event stream of an order: on an unknown id it is the same read as GET /orders/{id} (about
# 1.5 s to find the order missing, 50 cases more), and on a real order it stays open by design.
# Its own tests cover it (test_observe.py).
STREAM = "/orders/{order_id}/stream"


def fetch(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_owners_known(url: str, document: dict, timeout: float = 60.0) -> None:
    """/health is ready; wait further until every read with an id answers without a 503 (the
    query parameter is for the one read that needs it)."""
    probes = [path.replace("{", "").replace("}", "") for path, methods in document["paths"].items()
              if "get" in methods and "{" in path]
    deadline = time.monotonic() + timeout
    for probe in probes:
        while (status := fetch(f"{url}{probe}?quantity=1")[0]) == 503:
            assert time.monotonic() < deadline, f"{probe} still answers 503 after {timeout:.0f}s"
            time.sleep(0.3)
        assert status < 500, (probe, status)


def without_long_poll(document: dict) -> dict:
    path, method, name = LONG_POLL
    document["paths"].pop(STREAM, None)
    operation = document["paths"].get(path, {}).get(method)
    if operation is not None:
        operation["parameters"] = [p for p in operation["parameters"] if p["name"] != name]
    return document


def fuzz(schema, url: str, headers: dict, checks: list) -> list[str]:
    """Every operation in both modes; the distinct failures, each with a curl to reproduce it."""
    failures: dict[tuple[str, str], str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                try:
                    case.call_and_validate(base_url=url, headers=headers, checks=checks, timeout=15)
                except FailureGroup as group:  # one or more checks failed: note it, go on
                    kinds = ",".join(sorted({failure.title for failure in group.exceptions}))
                    failures.setdefault((operation.label, kinds), f"[{mode.value}] {group}")
                except requests.RequestException as error:  # dropped or timed out: the server's fault
                    curl = case.as_curl_command(headers=headers)
                    failures.setdefault((operation.label, type(error).__name__),
                                        f"[{mode.value}] {operation.label}: {error!r}\n    {curl}")

            run()
    return list(failures.values())


@pytest.mark.parametrize("context", CONTEXTS)
def test_openapi_document_holds_under_fuzzing(workers, context):
    token = {"ORDERSTREAM_API_TOKEN": TOKEN} if context == AUTHORIZED else {}
    url = workers(context, **token).url
    status, raw = fetch(f"{url}/openapi.json")
    assert status == 200
    document = json.loads(raw)
    wait_owners_known(url, document)

    schema = schemathesis.openapi.from_dict(without_long_poll(document))
    headers = {"Authorization": f"Bearer {TOKEN}"} if token else {}
    checks = CHECKS + ([ignored_auth] if token else [])
    failures = fuzz(schema, url, headers, checks)
    assert not failures, f"{len(failures)} distinct failure(s):\n\n" + "\n\n".join(failures)


def test_inputs_the_generator_seldom_makes(workers):
    """Found while fuzzing or next to what it found; each was a 503 or a dropped connection."""
    url = workers("catalog", ORDERSTREAM_API_TOKEN=TOKEN).url
    auth = {"Authorization": f"Bearer {TOKEN}"}
    product = {"product_id": "p-1", "sku": "S", "name": "N", "price": 100, "currency": "EUR", "on_hand": 1}

    def send(body: bytes, **headers: str) -> tuple[int, str | None, str | None, dict]:
        request = urllib.request.Request(f"{url}/products", data=body, method="POST",
                                         headers={"Content-Type": "application/json", **headers})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, None, None, dict(response.headers) | json.loads(response.read())
        except urllib.error.HTTPError as error:
            problem = json.loads(error.read())["error"]
            return error.code, problem.get("field"), problem.get("rule"), problem

    # header bytes that are not UTF-8 (aiohttp hands them on as lone surrogates)
    assert send(json.dumps(product).encode(), Authorization="Bearer \xff")[:3] == (
        401, "Authorization", "bearer_token")
    assert send(json.dumps(product).encode(), **auth, **{"Idempotency-Key": "k\xff\xfe"})[:3] == (
        422, "Idempotency-Key", "utf8")
    # an escaped lone surrogate parses but cannot be encoded onto a topic
    assert send(b'{"product_id": "\\ud800", "sku": "S", "name": "N", "price": 1, "currency": "EUR",'
                b' "on_hand": 1}', **auth)[:3] == (400, "body", "json")
    # nesting deeper than the parser's recursion limit, well under the body limit
    assert send(b"[" * 5000, **auth)[:3] == (400, "body", "json")
    # a control character in an id is refused by name (a store uses one as a separator)
    assert send(json.dumps(product | {"product_id": "a\r\nb"}).encode(), **auth)[:3] == (
        422, "product_id", "string_pattern_mismatch")
    # an id with characters a path may not hold: Location is percent-encoded, and leads back
    odd = "a b/c d%"
    status, _, _, answer = send(json.dumps(product | {"product_id": odd}).encode(), **auth)
    assert status == 202 and answer["Location"] == answer["location"] == "/products/a%20b%2Fc%20d%25"
    deadline = time.monotonic() + 30
    while (found := fetch(f"{url}{answer['Location']}"))[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert found[0] == 200 and json.loads(found[1])["product_id"] == odd
