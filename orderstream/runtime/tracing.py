"""Traces: one order is one trace, each actor step one span, joined across the six workers.

ORDERSTREAM_TRACING=off (default) sets up nothing: records still carry a traceparent computed
from the message (trace id from the order id), and a step costs no span. With `otlp` (to
ORDERSTREAM_OTLP_ENDPOINT, OTLP over HTTP) or `file` (ORDERSTREAM_TRACING_FILE, one OTLP/JSON
export request per line, as the OpenTelemetry Collector's file exporter writes it), each worker
runs the OpenTelemetry SDK:

- a message made at the edge (an HTTP request, a timer) is sent from an edge span in its order's
  trace: the trace id comes from the correlation id (the order id), and the message that starts
  the order is the trace's root, with a span id from the order id too, so any later edge message
  (a cancel, a carrier webhook, a deadline) joins it as its child without having seen it;
- an actor step is a span `<context> <MessageType>` whose parent is the span that sent the record
  (its `traceparent` header), and the records it sends carry its own traceparent, so a trace
  follows the messages' causation from worker to worker;
- sampling (ORDERSTREAM_TRACING_SAMPLE_RATIO) follows the trace id, so every worker keeps or
  drops the same orders.

An actor step's span (`StepSpan`) is recorded without the SDK's `Span`: that one checks every
attribute again at each set, under a lock, and asks the sampler, for 60 µs a step; a step's
attributes are plain strings, integers and lists of strings by construction and its sampling is
its parent's, so it is handed to the SDK's span processor as a finished `ReadableSpan` (22 µs).
Edge spans, one or two an order, stay the SDK's.
"""

import contextlib
import json
import os
import random
import time
import traceback
from json.encoder import encode_basestring_ascii as _q
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context, trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from orderstream.runtime.codec import order_span_id, order_trace_id
from orderstream.contracts.envelope import Message
from orderstream.settings import Settings

tracer = trace.get_tracer("orderstream")
_enabled = False
_root: ContextVar[tuple[int, int] | None] = ContextVar("orderstream_root_ids", default=None)
_sampled: Any = None  # the sampler's decision for an order's root, by trace id
_steps: "Recorder | None" = None  # where a step's span goes when it ends
NO_SPAN = contextlib.nullcontext(None)


def enabled() -> bool:
    return _enabled


def configure(settings: Settings, context: str) -> None:
    """Set up the SDK for this worker, once; `off` leaves the API's no-op tracer."""
    if settings.tracing == "off" or _enabled:
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    ratio = TraceIdRatioBased(settings.tracing_sample_ratio)
    provider = TracerProvider(
        sampler=ParentBased(ratio), id_generator=_OrderIds(),
        resource=Resource.create({"service.name": f"orderstream-{context}",
                                  "service.namespace": settings.namespace or "orderstream",
                                  "orderstream.context": context}))
    if settings.tracing == "file":
        processor = BatchSpanProcessor(FileExporter(settings.tracing_file), schedule_delay_millis=500)
    else:
        processor = BatchSpanProcessor(otlp_exporter(traces_url(settings.otlp_endpoint), settings.otlp_protocol))
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    record(provider, processor, lambda trace_id: ratio.should_sample(None, trace_id, "root").decision.is_sampled())


def record(provider: Any, processor: SpanProcessor, sampled: Any) -> None:
    """Spans from now on: edge spans from `provider`'s tracer, step spans into `processor`,
    orders kept when `sampled(trace_id)`."""
    global _enabled, _sampled, _steps, tracer
    tracer, _sampled, _enabled = provider.get_tracer("orderstream"), sampled, True
    _steps = Recorder(processor, provider.resource, InstrumentationScope("orderstream"))


def otlp_exporter(url: str, protocol: str) -> SpanExporter:
    """The SDK's OTLP/HTTP exporter (its retries, timeouts and OTEL_EXPORTER_OTLP_* headers). With
    `http/json` it sends `otlp_json`: the SDK encodes protobuf only, at 5 times the CPU."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    if protocol == "http/protobuf":
        return OTLPSpanExporter(endpoint=url)

    class JsonExporter(OTLPSpanExporter):
        def export(self, spans) -> SpanExportResult:
            if self._shutdown or not self._client.export(otlp_json(spans)).success:
                return SpanExportResult.FAILURE
            return SpanExportResult.SUCCESS

    return JsonExporter(endpoint=url, headers={"Content-Type": "application/json"})


def traces_url(endpoint: str) -> str:
    """ORDERSTREAM_OTLP_ENDPOINT is the collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"


def traceparent(span: Span | None) -> str | None:
    """The W3C traceparent of `span`, for the records sent from it; None without a span."""
    ctx = span.get_span_context() if span is not None else None
    if ctx is None or not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def current() -> str | None:
    """The traceparent of the span running now, for a record sent from it."""
    return traceparent(trace.get_current_span()) if _enabled else None


@contextlib.contextmanager
def edge(context: str, message: Message) -> Iterator[Span | None]:
    """The span a message made at the edge is sent from (see the module's docstring)."""
    if not _enabled:
        yield None
        return
    trace_id, root_id = order_trace_id(message.correlation_id), order_span_id(message.correlation_id)
    if not _sampled(trace_id):  # not traced: the records carry the order's root, unsampled
        unsampled = SpanContext(trace_id, root_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.DEFAULT))
        with trace.use_span(NonRecordingSpan(unsampled)) as span:
            yield span
        return
    attributes = {"orderstream.context": context, "orderstream.message_type": message.type,
                  "messaging.message.id": message.message_id, "orderstream.outcome": "sent",
                  "orderstream.correlation_id": message.correlation_id, **_order(message)}
    if message.message_id == message.correlation_id:  # the order's first message: the root
        token = _root.set((trace_id, root_id))
        try:
            span = tracer.start_span(f"{context} send {message.type}", context=Context(),
                                     kind=SpanKind.PRODUCER, attributes=attributes)
        finally:
            _root.reset(token)
    else:
        parent = NonRecordingSpan(SpanContext(trace_id, root_id, is_remote=True,
                                              trace_flags=TraceFlags(TraceFlags.SAMPLED)))
        span = tracer.start_span(f"{context} send {message.type}", kind=SpanKind.PRODUCER,
                                 context=trace.set_span_in_context(parent), attributes=attributes)
    with trace.use_span(span, end_on_exit=True):
        yield span


def step(context: str, headers: list[tuple[str, bytes]] | None, topic: str, partition: int,
         offset: int, name: str | None = None):
    """The span of one actor step on a record, child of the span that sent it; NO_SPAN when
    tracing is off. A record of an order that is not traced gets no span: its sender's context
    stays current, so what the step sends carries the same unsampled traceparent."""
    if not _enabled:
        return NO_SPAN
    found = dict(headers or ())
    parent = _parent(found.get("traceparent"))
    trace_id = parent.trace_id if parent is not None else random.getrandbits(128) or 1
    if parent is not None and not parent.trace_flags.sampled:
        return trace.use_span(NonRecordingSpan(parent))
    if parent is None and not _sampled(trace_id):  # sent by no span of ours: a root of its own
        return trace.use_span(NonRecordingSpan(_context(trace_id, TraceFlags.DEFAULT)))
    kind = (found.get("type") or b"record").decode(errors="replace")
    return StepSpan(f"{context} {name or kind}", _context(trace_id, TraceFlags.SAMPLED), parent, {
        "messaging.system": "kafka", "messaging.operation.type": "process",
        "messaging.destination.name": topic, "messaging.destination.partition.id": str(partition),
        "messaging.kafka.offset": offset, "orderstream.message_type": kind,
        "messaging.message.id": (found.get("message_id") or b"").decode(errors="replace"),
        "orderstream.correlation_id": (found.get("correlation_id") or b"").decode(errors="replace")})


def _context(trace_id: int, flags: int) -> SpanContext:
    """A new span's context in trace `trace_id`, as the SDK's random ids would make it."""
    return SpanContext(trace_id, random.getrandbits(64) or 1, is_remote=False, trace_flags=TraceFlags(flags))


class Recorder:
    """Where step spans go: the SDK's span processor (batching, export), with the worker's
    resource."""

    def __init__(self, processor: SpanProcessor, resource: Any, scope: InstrumentationScope):
        self.processor, self.resource, self.scope = processor, resource, scope

    def end(self, span: "StepSpan", end_time: int) -> None:
        self.processor.on_end(ReadableSpan(
            span.name, span.context, span.parent, self.resource, span.attributes, span.events,
            kind=SpanKind.CONSUMER, status=span.status, start_time=span.start, end_time=end_time,
            instrumentation_scope=self.scope))


class StepSpan(Span):
    """A consumer span, current while it is entered and ended on leaving (see the module's
    docstring). Its attributes are taken as they come: the step sets only valid ones."""

    def __init__(self, name: str, context: SpanContext, parent: SpanContext | None, attributes: dict):
        self.name, self.context, self.parent, self.attributes = name, context, parent, attributes
        self.events: list[Event] = []
        self.status, self.start, self._token = Status(StatusCode.UNSET), time.time_ns(), None

    def __enter__(self) -> "StepSpan":
        self._token = otel_context.attach(trace.set_span_in_context(self))
        return self

    def __exit__(self, *exc_info) -> None:
        otel_context.detach(self._token)
        self.end()

    def end(self, end_time: int | None = None) -> None:
        if self.start is not None and _steps is not None:
            _steps.end(self, end_time or time.time_ns())
        self.start = None

    def get_span_context(self) -> SpanContext:
        return self.context

    def is_recording(self) -> bool:
        return self.start is not None

    def set_attributes(self, attributes) -> None:
        self.attributes.update(attributes)

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def add_event(self, name: str, attributes=None, timestamp: int | None = None) -> None:
        self.events.append(Event(name, attributes, timestamp))

    def update_name(self, name: str) -> None:
        self.name = name

    def set_status(self, status, description: str | None = None) -> None:
        self.status = status if isinstance(status, Status) else Status(status, description)

    def record_exception(self, exception: BaseException, attributes=None, timestamp=None, escaped=False) -> None:
        kind = type(exception)
        self.add_event("exception", {
            "exception.type": kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}",
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped), **(attributes or {})}, timestamp)


def decided(span: Span | None, message: Message, aggregate: str, events: list[Message],
            sent: list[tuple[str, str, Message]], before: Any, after: Any) -> None:
    """What an actor step did: the events it appended, the commands it sent, the status it
    moved its aggregate to."""
    if span is None or not span.is_recording():
        return
    appended = {id(event) for event in events}
    attributes = {"orderstream.aggregate": aggregate,
                  "orderstream.outcome": "events" if events else "no_events",
                  "orderstream.events": [e.type for e in events],
                  "orderstream.commands": [m.type for _, _, m in sent if id(m) not in appended],
                  **_order(message)}
    old, new = getattr(before, "status", None), getattr(after, "status", None)
    if old != new:
        attributes |= {"orderstream.status.from": str(old or "none"), "orderstream.status.to": str(new)}
    span.set_attributes(attributes)


def called(span: Span | None, message: Message, commands: list[Message]) -> None:
    """What a port's call of the outside world (gateway, carrier) answered."""
    if span is not None and span.is_recording():
        span.set_attributes({"orderstream.aggregate": "port",
                             "orderstream.outcome": "sent" if commands else "no_events",
                             "orderstream.events": [], **_order(message),
                             "orderstream.commands": [c.type for c in commands]})


def duplicate(span: Span | None, message: Message) -> None:
    if span is not None and span.is_recording():
        span.set_attributes({"orderstream.outcome": "duplicate", **_order(message)})


def dead_lettered(span: Span | None, error: BaseException) -> None:
    if span is not None:
        span.set_attribute("orderstream.outcome", "dead_lettered")
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:200]))


def _order(message: Message) -> dict[str, str]:
    order_id = getattr(message, "order_id", None)
    return {"orderstream.order_id": order_id} if isinstance(order_id, str) else {}


def _parent(header: bytes | None) -> SpanContext | None:
    """The span that sent a record, from its traceparent header."""
    try:
        version, trace_id, span_id, flags = (header or b"").decode().split("-")
        ctx = SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True,
                          trace_flags=TraceFlags(int(flags, 16) & 1))
    except ValueError:
        return None
    return ctx if ctx.is_valid and version == "00" else None


class _OrderIds(IdGenerator):
    """Random ids, except for an order's root span: its ids come from the order id."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()

    def generate_trace_id(self) -> int:
        wanted = _root.get()
        return wanted[0] if wanted else self._random.generate_trace_id()

    def generate_span_id(self) -> int:
        wanted = _root.get()
        return wanted[1] if wanted else self._random.generate_span_id()


class FileExporter(SpanExporter):
    """Spans as OTLP/JSON lines (one export request a line, ids in hex): what the Collector's
    `file` exporter writes and its `otlpjsonfile` receiver reads. Each batch is one append, so
    the six workers can share one file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def export(self, spans) -> SpanExportResult:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, otlp_json(spans) + b"\n")
        finally:
            os.close(fd)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def otlp_json(spans) -> bytes:
    """One OTLP/JSON export request (ids in hex), written as text straight from the SDK's spans:
    about 20 µs a span, against 80 building dicts for json.dumps, 100 for the SDK's protobuf
    encoding, and 400 through protobuf and its JSON printer."""
    groups: dict[int, tuple[Any, dict[int, tuple[Any, list[str]]]]] = {}
    for span in spans:
        resource, scope = span.resource, span.instrumentation_scope
        scopes = groups.setdefault(id(resource), (resource, {}))[1]
        scopes.setdefault(id(scope), (scope, []))[1].append(_span_json(span))
    return ('{"resourceSpans":[' + ",".join(
        f'{{"resource":{{"attributes":[{_attributes(resource.attributes)}]}},"scopeSpans":['
        + ",".join(f'{{"scope":{{"name":{_q(scope.name if scope else "")}}},"spans":[{",".join(items)}]}}'
                   for scope, items in scopes.values()) + "]}"
        for resource, scopes in groups.values()) + "]}").encode()


def _span_json(span) -> str:
    ctx, parent = span.context, span.parent
    text = (f'{{"traceId":"{ctx.trace_id:032x}","spanId":"{ctx.span_id:016x}",'
            + (f'"parentSpanId":"{parent.span_id:016x}",' if parent is not None and parent.is_valid else "")
            + f'"name":{_q(span.name)},"kind":{span.kind.value + 1},"startTimeUnixNano":"{span.start_time}",'
            f'"endTimeUnixNano":"{span.end_time}","attributes":[{_attributes(span.attributes)}]')
    if span.events:
        text += ',"events":[' + ",".join(
            f'{{"timeUnixNano":"{e.timestamp}","name":{_q(e.name)},"attributes":[{_attributes(e.attributes)}]}}'
            for e in span.events) + "]"
    if span.status.status_code is not StatusCode.UNSET:
        text += f',"status":{{"code":{span.status.status_code.value},"message":{_q(span.status.description or "")}}}'
    return text + "}"


def _attributes(attributes) -> str:
    return ",".join(f'{{"key":{_q(key)},"value":{_any(value)}}}' for key, value in (attributes or {}).items())


def _any(value: Any) -> str:
    """An attribute value as OTLP/JSON writes it (64-bit integers as strings)."""
    kind = type(value)
    if kind is str:
        return f'{{"stringValue":{_q(value)}}}'
    if kind is bool:
        return '{"boolValue":true}' if value else '{"boolValue":false}'
    if isinstance(value, int):  # an IntEnum too, as before
        return f'{{"intValue":"{int(value)}"}}'
    if kind is float:
        return f'{{"doubleValue":{json.dumps(value)}}}'
    if isinstance(value, (list, tuple)):
        return f'{{"arrayValue":{{"values":[{",".join(_any(v) for v in value)}]}}}}'
    return f'{{"stringValue":{_q(str(value))}}}'


def read_spans(path: Path) -> list[dict]:
    """The spans in a file written by FileExporter, flattened: ids, name, service, times (ns),
    status and attributes as plain values."""
    spans = []
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        for resource in json.loads(line).get("resourceSpans", ()):
            service = _values(resource.get("resource", {}).get("attributes", ())).get("service.name")
            for scope in resource.get("scopeSpans", ()):
                for span in scope.get("spans", ()):
                    spans.append({"trace_id": span["traceId"], "span_id": span["spanId"],
                                  "parent_id": span.get("parentSpanId") or None, "name": span["name"],
                                  "kind": KINDS.get(span.get("kind", 0), "internal"),
                                  "service": service, "start": int(span["startTimeUnixNano"]),
                                  "end": int(span["endTimeUnixNano"]),
                                  "error": span.get("status", {}).get("code") == 2,
                                  "attributes": _values(span.get("attributes", ()))})
    return spans


KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}  # OTLP's numbers


def _values(attributes) -> dict[str, Any]:
    return {a["key"]: _value(a.get("value", {})) for a in attributes}


def _value(value: dict) -> Any:
    if "arrayValue" in value:
        return [_value(v) for v in value["arrayValue"].get("values", ())]
    for kind in ("stringValue", "boolValue", "doubleValue"):
        if kind in value:
            return value[kind]
    return int(value["intValue"]) if "intValue" in value else None
