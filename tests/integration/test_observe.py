"""Watching an order, across the six real workers (two replicas of order) and the real broker:
its trace (the file exporter), its live event stream (resumed, and through the replica that does
not own it), and the metrics the Grafana dashboard reads.

One system for the module: starting seven workers is most of what these tests cost.
"""

import asyncio
import json
import re
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from orderstream.runtime import topics
from orderstream.runtime.codec import order_trace_id
from orderstream.runtime.tracing import read_spans
from tests.conftest import ROOT, Env, worker_factory
from tests.integration.http import eventually, get, post
from tests.integration.kafka_io import produce, read_all
from tests.integration.system import CONTEXTS, System, start_simulator, stop

pytestmark = pytest.mark.kafka
DASHBOARD = ROOT / "helm" / "orderstream" / "dashboards" / "orderstream.json"


@pytest.fixture(scope="module")
def shop(kafka_bootstrap, tmp_path_factory):
    root = tmp_path_factory.mktemp("observe")
    spans = root / "spans.jsonl"
    env = Env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}", root,
              {"ORDERSTREAM_TRACING": "file", "ORDERSTREAM_TRACING_FILE": str(spans)})
    asyncio.run(topics.apply(env.settings()))
    simulator, url = start_simulator(root)
    system, start = System(), worker_factory(env)
    urls = {"ORDERSTREAM_GATEWAY_URL": url, "ORDERSTREAM_CARRIER_URL": url}
    try:
        system.workers = {context: start(context, wait=False, **urls) for context in CONTEXTS}
        system.workers["order-b"] = start("order", wait=False, replica="b", **urls)
        for worker in system.workers.values():
            worker.wait_ready()
        system.product("pen", 100, price=250)
        system.account("rich", 100_000)
        system.account("poor", 100)
        eventually(lambda: get(f"{system.url('account')}/accounts/poor"), lambda r: r[0] == 200)
        eventually(lambda: get(f"{system.url('catalog')}/products/pen"), lambda r: r[0] == 200)
        yield system, env, spans
    finally:
        start.stop_all()
        stop(simulator)


@pytest.fixture(scope="module")
def orders(shop):
    """A paid order, and one whose payment fails (insufficient funds): its reservation is
    released and it ends Cancelled."""
    system, _, _ = shop
    placed = {"paid": system.place("rich", [("pen", 2)]), "unpaid": system.place("poor", [("pen", 4)])}
    final = {name: system.settled(order_id) for name, order_id in placed.items()}
    assert final["paid"]["status"] == "Preparing"
    assert final["unpaid"]["status"] == "Cancelled" and "insufficient" in final["unpaid"]["reason"]
    return placed


def trace_of(spans_file: Path, order_id: str, condition, timeout: float = 40) -> list[dict]:
    wanted = f"{order_trace_id(order_id):032x}"

    def spans():
        return [s for s in read_spans(spans_file) if s["trace_id"] == wanted] if spans_file.exists() else []
    return eventually(spans, condition, timeout=timeout, interval=0.5)


def test_one_order_is_one_trace_across_the_six_contexts_parented_by_causation(shop, orders):
    system, env, spans_file = shop
    order_id = orders["paid"]
    settings = env.settings()
    created = next(r for r in read_all(env.bootstrap, settings.topic("order.commands"))
                   if r.key == order_id.encode() and json.loads(r.value)["type"] == "CreateOrder")
    produce(env.bootstrap, settings.topic("order.commands"), created.key, created.value,
            list(created.headers))  # the same message in another record: a duplicate
    poison = [(k, v) for k, v in created.headers if k in ("traceparent", "correlation_id")]
    produce(env.bootstrap, settings.topic("catalog.commands"), created.key,
            b'{"type": "ReserveItems", "order_id": 7}', poison + [("type", b"ReserveItems")])

    def complete(spans):
        outcomes = {s["attributes"].get("orderstream.outcome") for s in spans}
        return {"duplicate", "dead_lettered"} <= outcomes and len({s["service"] for s in spans}) == 6
    trace = trace_of(spans_file, order_id, complete)

    assert {s["service"] for s in trace} == {f"orderstream-{c}" for c in CONTEXTS}
    ids = {s["span_id"]: s for s in trace}
    roots = [s for s in trace if s["parent_id"] is None]
    assert [r["name"] for r in roots] == ["order send CreateOrder"], roots
    for span in trace:
        attributes = span["attributes"]
        assert attributes["orderstream.correlation_id"] == order_id, span
        assert attributes.get("orderstream.order_id", order_id) == order_id, span
        assert attributes["orderstream.outcome"] in ("sent", "events", "no_events", "duplicate",
                                                     "dead_lettered"), span
        if span is roots[0] or attributes["orderstream.outcome"] == "dead_lettered":  # made up here
            continue
        parent = ids.get(span["parent_id"])
        assert parent is not None, f"{span['name']}: its parent span is not in the trace"
        kind, cause = attributes["orderstream.message_type"], parent["attributes"]
        caused = {*cause.get("orderstream.events", ()), *cause.get("orderstream.commands", ())}
        if parent["kind"] == "producer":  # an edge span: it sent the message itself
            caused.add(cause["orderstream.message_type"])
        assert kind in caused, f"{span['name']} was not caused by its parent {parent['name']}"

    by_name = {s["name"]: s for s in trace if s["attributes"]["orderstream.outcome"] != "duplicate"}
    assert by_name["order CreateOrder"]["attributes"]["orderstream.events"] == ["OrderCreated"]
    assert by_name["order CreateOrder"]["attributes"]["orderstream.status.to"] == "Pending"
    assert "AccountDebited" in by_name["account DebitAccount"]["attributes"]["orderstream.events"]
    assert by_name["order PaymentSucceeded"]["attributes"]["orderstream.status.to"] == "PaymentConfirmed"
    duplicate = next(s for s in trace if s["attributes"]["orderstream.outcome"] == "duplicate")
    assert duplicate["name"] == "order CreateOrder" and duplicate["parent_id"] == roots[0]["span_id"]
    parked = next(s for s in trace if s["attributes"]["orderstream.outcome"] == "dead_lettered")
    assert parked["name"] == "catalog ReserveItems" and parked["error"]

    shown = subprocess.run([sys.executable, "-m", "orderstream.cli", "trace", order_id, "--file", str(spans_file)],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
    lines = shown.stdout.splitlines()
    assert shown.returncode == 0 and lines[1].startswith("order send CreateOrder"), shown
    assert any(line.startswith("  order CreateOrder") for line in lines)
    assert any(line.lstrip().startswith("account DebitAccount") for line in lines)


def test_a_failed_payment_and_its_compensation_show_in_the_orders_trace(shop, orders):
    _, _, spans_file = shop

    def compensated(spans):
        return any(s["name"] == "catalog ReleaseReservation" for s in spans) and any(
            s["attributes"].get("orderstream.status.to") == "Cancelled" for s in spans)
    trace = trace_of(spans_file, orders["unpaid"], compensated)
    ids = {s["span_id"]: s for s in trace}
    failed = next(s for s in trace if "OrderFailed" in s["attributes"].get("orderstream.events", []))
    assert failed["attributes"]["orderstream.status.to"] == "PaymentFailed"
    assert "ReleaseReservation" in failed["attributes"]["orderstream.commands"]
    release = next(s for s in trace if s["name"] == "catalog ReleaseReservation")
    assert ids[release["parent_id"]] is failed
    assert "ReservationReleased" in release["attributes"]["orderstream.events"]
    assert len({s["trace_id"] for s in trace}) == 1 and len([s for s in trace if s["parent_id"] is None]) == 1


async def read_events(url: str, last_event_id: str | None = None, until: str = "end",
                      seen: list | None = None, timeout: float = 60) -> list[tuple[str, str, dict]]:
    """Events of an SSE stream, read as they come, until an event of kind `until` (or the end)."""
    events = seen if seen is not None else []
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        async with session.get(url, headers=headers) as response:
            assert response.status == 200, await response.text()
            assert response.content_type == "text/event-stream"
            fields: dict[str, str] = {}
            async for raw in response.content:
                line = raw.decode().rstrip("\n")
                if line and not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    fields[name] = value
                    continue
                if "event" in fields:
                    events.append((fields["id"], fields["event"], json.loads(fields["data"])))
                    if fields["event"] == until:
                        return events
                fields = {}
    return events


def test_the_status_stream_follows_an_order_to_its_end_and_resumes(shop):
    system, _, _ = shop
    replicas = [system.url("order"), system.workers["order-b"].url]

    async def scenario():
        order_id = system.place("rich", [("pen", 1)])
        live = [[], []]  # one stream from each replica: one of them is routed to the owner
        readers = [asyncio.create_task(read_events(f"{url}/orders/{order_id}/stream", seen=seen))
                   for url, seen in zip(replicas, live)]
        deadline = time.monotonic() + 60
        while not all(any(e[2].get("status") == "Preparing" for e in seen) for seen in live):
            assert time.monotonic() < deadline and not any(r.done() for r in readers), live
            await asyncio.sleep(0.2)
        shipment_id = get(f"{replicas[0]}/orders/{order_id}")[1]["shipment_id"]
        for step in ("dispatched", "delivered"):
            assert post(f"{system.url('shipment')}/shipments/{shipment_id}/status",
                        {"status": step, "location": "Leeds"})[0] == 202
        return order_id, await asyncio.wait_for(asyncio.gather(*readers), 60)

    order_id, (first, second) = asyncio.run(scenario())
    assert first == second
    kinds = [(kind, data.get("status") or data.get("step")) for _, kind, data in first]
    assert kinds == [("status", "Pending"), ("step", "reservation"), ("status", "PaymentProcessing"),
                     ("step", "payment"), ("status", "PaymentConfirmed"), ("step", "shipment"),
                     ("status", "Preparing"), ("step", "dispatch"), ("status", "Shipped"),
                     ("step", "delivery"), ("status", "Delivered"), ("end", "Delivered")], kinds
    assert len({event_id for event_id, kind, _ in first if kind != "end"}) == len(first) - 1

    def content(events):
        return sorted(json.dumps([kind, data], sort_keys=True) for _, kind, data in events)

    for url in replicas:  # resume after the 4th event, from either replica: each missed entry once
        resumed = asyncio.run(read_events(f"{url}/orders/{order_id}/stream", last_event_id=first[3][0]))
        assert content(resumed) == content(first[4:]) and resumed[-1] == first[-1]
    assert asyncio.run(read_events(f"{replicas[1]}/orders/{order_id}/stream",
                                   last_event_id=first[-1][0])) == [first[-1]]
    status, body = get(f"{replicas[1]}/orders/{order_id}/stream", headers={"Last-Event-ID": "x"})
    assert status == 422 and body["error"]["field"] == "Last-Event-ID"
    assert get(f"{replicas[1]}/orders/nope/stream")[0] == 404


def metric_names(text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name} | {sample.name for sample in family.samples}
        names |= {f"{family.name}{suffix}" for suffix in ("_total", "_bucket", "_sum", "_count")
                  if family.type in ("counter", "histogram")}
    return names


def samples(texts: list[str], name: str, **labels: str) -> float:
    return sum(s.value for text in texts for family in text_string_to_metric_families(text)
               for s in family.samples if s.name == name and labels.items() <= s.labels.items())


def test_the_dashboard_queries_only_metrics_the_workers_serve(shop, orders):
    system, _, _ = shop

    def scrape():
        return [urlopen_text(f"{worker.url}/metrics") for worker in system.workers.values()]

    texts = eventually(scrape, lambda t: samples(t, "orderstream_aggregates", aggregate="orders",
                                                 status="Cancelled") >= 1, timeout=30)
    served = set().union(*(metric_names(text) for text in texts))
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {name for panel in dashboard["panels"] for target in panel.get("targets", ())
               for name in re.findall(r"\b(orderstream_[a-z_]+)", target["expr"])}
    assert queried and queried <= served, f"the dashboard queries what no worker serves: {queried - served}"
    assert {"orderstream_saga_step_seconds_bucket", "orderstream_compensations_total", "orderstream_aggregates",
            "orderstream_breaker_state", "orderstream_queue_depth"} <= queried

    assert samples(texts, "orderstream_saga_step_seconds_count", step="payment", outcome="succeeded") >= 1
    assert samples(texts, "orderstream_saga_step_seconds_count", step="payment", outcome="failed") >= 1
    assert samples(texts, "orderstream_compensations_total", compensation="release_reservation",
                   reason="payment_failed") >= 1
    assert samples(texts, "orderstream_breaker_state", service="gateway", state="closed") == 1
    lag = [s for text in texts for family in text_string_to_metric_families(text) for s in family.samples
           if s.name == "orderstream_queue_depth"]
    assert {s.labels["topic"] for s in lag} >= {shop[1].settings().topic(f"{c}.commands") for c in CONTEXTS}


def urlopen_text(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode()


@pytest.mark.parametrize("protocol,content_type", [("http/json", "application/json"),
                                                   ("http/protobuf", "application/x-protobuf")])
def test_a_worker_exports_its_spans_over_otlp_http_to_a_collector(env, protocol, content_type):
    """`ORDERSTREAM_TRACING=otlp`, as the chart sets it: the spans reach a collector's OTLP/HTTP
    endpoint as export requests that protobuf's own parser reads, named for the worker's service."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    received: list[tuple[str, str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.path, self.headers["Content-Type"],
                             self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    def parsed(kind: str, payload: bytes) -> ExportTraceServiceRequest:
        if kind == "application/json":
            return json_format.Parse(payload, ExportTraceServiceRequest())
        return ExportTraceServiceRequest.FromString(payload)

    collector = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    start = worker_factory(env)
    try:
        catalog = start("catalog", ORDERSTREAM_TRACING="otlp", ORDERSTREAM_OTLP_PROTOCOL=protocol,
                        ORDERSTREAM_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.server_port}")
        status, body = post(f"{catalog.url}/products", {"product_id": "lamp", "sku": "LAMP", "name": "lamp",
                                                        "price": 990, "currency": "EUR", "on_hand": 3})
        assert status == 202, body

        def spans():
            found = []
            for path, kind, payload in list(received):
                assert (path, kind) == ("/v1/traces", content_type)
                for resource in parsed(kind, payload).resource_spans:
                    service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
                    found += [(service, span) for scope in resource.scope_spans for span in scope.spans]
            return found
        exported = eventually(spans, lambda s: any(span.name == "catalog RegisterProduct" for _, span in s),
                              timeout=30, interval=0.5)
    finally:
        start.stop_all()
        collector.shutdown()

    by_name = {span.name: span for _, span in exported}
    assert {service for service, _ in exported} == {"orderstream-catalog"}
    sent, step = by_name["catalog send RegisterProduct"], by_name["catalog RegisterProduct"]
    assert step.trace_id == sent.trace_id and step.parent_span_id == sent.span_id
    assert step.kind == step.SPAN_KIND_CONSUMER and step.end_time_unix_nano >= step.start_time_unix_nano > 0
    attributes = {a.key: a.value for a in step.attributes}
    assert attributes["orderstream.message_type"].string_value == "RegisterProduct"
    assert attributes["orderstream.outcome"].string_value == "events"
    assert attributes["messaging.kafka.offset"].int_value >= 0
    assert list(attributes["orderstream.events"].array_value.values)[0].string_value == "ProductRegistered"
