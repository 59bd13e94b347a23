"""Spans written as OTLP/JSON lines and read back; an order's root span's ids; the traceparent
a record carries. (Across the real workers: tests/integration/test_observe.py.)"""

import json

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, set_span_in_context

from orderstream.runtime import tracing
from orderstream.runtime.codec import order_span_id, order_trace_id, traceparent
from orderstream.contracts.order import CancelOrder
from orderstream.settings import Settings

from builders import T0


def test_spans_go_to_the_file_as_otlp_json_and_read_back(tmp_path):
    path = tmp_path / "traces" / "spans.jsonl"
    provider = TracerProvider(id_generator=tracing._OrderIds())
    provider.add_span_processor(SimpleSpanProcessor(tracing.FileExporter(path)))
    tracer = provider.get_tracer("test")
    token = tracing._root.set((order_trace_id("o1"), order_span_id("o1")))
    try:
        root = tracer.start_span("order send CreateOrder", kind=SpanKind.PRODUCER)
    finally:
        tracing._root.reset(token)
    with tracer.start_as_current_span("catalog ReserveItems", context=set_span_in_context(root),
                                      kind=SpanKind.CONSUMER) as child:
        child.set_attributes({"orderstream.events": ["ItemsReserved"], "messaging.kafka.offset": 7})
    root.end()

    spans = {s["name"]: s for s in tracing.read_spans(path)}
    assert spans["order send CreateOrder"]["trace_id"] == f"{order_trace_id('o1'):032x}"
    assert spans["order send CreateOrder"]["span_id"] == f"{order_span_id('o1'):016x}"
    assert spans["order send CreateOrder"]["parent_id"] is None
    assert spans["catalog ReserveItems"]["parent_id"] == spans["order send CreateOrder"]["span_id"]
    assert spans["catalog ReserveItems"]["kind"] == "consumer"
    assert spans["catalog ReserveItems"]["attributes"] == {"orderstream.events": ["ItemsReserved"],
                                                           "messaging.kafka.offset": 7}
    assert len(path.read_text().splitlines()) == 2  # one export request a line


def test_a_record_sent_from_no_span_names_its_orders_trace_and_the_root_span():
    first = CancelOrder.new(message_id="o1", occurred_at=T0, order_id="o1", reason="r")
    assert traceparent(first) == f"00-{order_trace_id('o1'):032x}-{order_span_id('o1'):016x}-01"
    parent = tracing._parent(traceparent(first).encode())
    assert parent is not None
    assert tracing._parent(b"00-zz-11-01") is None and tracing._parent(None) is None
    assert tracing._parent(b"00-" + b"0" * 32 + b"-" + b"0" * 16 + b"-01") is None  # invalid ids


def test_the_collector_url_takes_the_traces_path_once():
    assert tracing.traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert tracing.traces_url("http://collector:4318/v1/traces/") == "http://collector:4318/v1/traces"


def test_tracing_off_sets_up_nothing_and_a_step_makes_no_span():
    tracing.configure(Settings(tracing="off"), "order")
    assert not tracing.enabled() and tracing.current() is None
    assert tracing.step("order", [("type", b"CreateOrder")], "order.commands", 0, 0) is tracing.NO_SPAN
    with tracing.edge("order", CancelOrder.new(message_id="m", occurred_at=T0, order_id="o1", reason="r")) as span:
        assert span is None and tracing.traceparent(span) is None


def test_an_order_not_sampled_costs_no_span_and_passes_its_unsampled_context_on(tmp_path, monkeypatch):
    """Sampling follows the order: its edge message and every step on its records make no span
    (nothing is exported) and what they send carries the order's trace, flagged not sampled."""
    path = tmp_path / "spans.jsonl"
    record(monkeypatch, path, lambda trace_id: trace_id == order_trace_id("kept"))

    def sent_from_step(order_id: str) -> str:
        message = CancelOrder.new(message_id=f"c-{order_id}", occurred_at=T0, correlation_id=order_id,
                                 order_id=order_id, reason="r")
        with tracing.edge("order", message) as span:
            edge = tracing.traceparent(span)
        with tracing.step("order", [("traceparent", edge.encode()), ("type", b"CancelOrder")],
                          "order.commands", 0, 3) as span:
            tracing.decided(span, message, "orders", [], [], None, None)
            assert tracing.current() == tracing.traceparent(span)
            return tracing.traceparent(span)

    dropped = sent_from_step("dropped")
    assert dropped == f"00-{order_trace_id('dropped'):032x}-{order_span_id('dropped'):016x}-00"
    assert not path.exists()  # no span made, none exported

    kept = sent_from_step("kept")
    assert kept.startswith(f"00-{order_trace_id('kept'):032x}-") and kept.endswith("-01")
    spans = tracing.read_spans(path)
    assert [s["name"] for s in spans] == ["order send CancelOrder", "order CancelOrder"]
    assert spans[1]["parent_id"] == spans[0]["span_id"] and f"-{spans[1]['span_id']}-" in kept
    assert spans[1]["attributes"]["orderstream.outcome"] == "no_events"


def test_a_step_that_fails_is_exported_with_its_error_and_the_exception(tmp_path, monkeypatch):
    """A step's span goes to the exporter without the SDK's Span: its parent, kind, attributes,
    status and the exception event arrive as the SDK would have written them."""
    path = tmp_path / "spans.jsonl"
    record(monkeypatch, path, lambda trace_id: True)
    sender = f"00-{order_trace_id('o1'):032x}-{order_span_id('o1'):016x}-01"
    with tracing.step("catalog", [("traceparent", sender.encode()), ("type", b"ReserveItems"),
                                  ("correlation_id", b"o1")], "catalog.commands", 2, 41) as span:
        assert tracing.current() == tracing.traceparent(span) != sender
        tracing.dead_lettered(span, ValueError("quantity: must be positive"))
    assert tracing.current() is None and not span.is_recording()

    [exported] = tracing.read_spans(path)
    assert exported["name"] == "catalog ReserveItems" and exported["kind"] == "consumer"
    assert exported["trace_id"] == f"{order_trace_id('o1'):032x}"
    assert exported["parent_id"] == f"{order_span_id('o1'):016x}" and exported["error"]
    assert exported["start"] <= exported["end"]
    assert exported["attributes"]["orderstream.outcome"] == "dead_lettered"
    assert exported["attributes"]["messaging.kafka.offset"] == 41
    assert exported["attributes"]["messaging.destination.partition.id"] == "2"
    assert exported["attributes"]["orderstream.correlation_id"] == "o1"
    line = json.loads(path.read_text())["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    [event] = line["events"]
    assert event["name"] == "exception" and line["status"]["message"].startswith("ValueError: quantity")
    assert {a["key"]: a["value"]["stringValue"] for a in event["attributes"]}["exception.type"] == "ValueError"


def record(monkeypatch, path, sampled) -> None:
    """Spans to `path` for this test only, orders kept when `sampled(trace_id)`."""
    for name in ("tracer", "_enabled", "_sampled", "_steps"):
        monkeypatch.setattr(tracing, name, getattr(tracing, name))  # put back after the test
    processor = SimpleSpanProcessor(tracing.FileExporter(path))
    provider = TracerProvider(id_generator=tracing._OrderIds())
    provider.add_span_processor(processor)
    tracing.record(provider, processor, sampled)
