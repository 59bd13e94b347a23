"""A tiny JSON HTTP client for tests (stdlib only), and polling until a condition holds."""

import json
import time
import urllib.error
import urllib.request


def call(method: str, url: str, body=None, headers: dict | None = None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def get(url: str, **kw) -> tuple[int, dict]:
    return call("GET", url, **kw)


def post(url: str, body=None, **kw) -> tuple[int, dict]:
    return call("POST", url, body, **kw)


def eventually(fetch, condition, timeout: float = 60.0, interval: float = 0.3):
    """Poll `fetch()` until `condition(result)`; return the result or fail with the last one."""
    deadline = time.monotonic() + timeout
    result = fetch()
    while not condition(result):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.0f}s; last: {result!r}")
        time.sleep(interval)
        result = fetch()
    return result


def metric(url: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` at `url`/metrics whose labels include `labels`."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:
        text = response.read().decode()
    return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == name and labels.items() <= s.labels.items())
