"""The one codec: messages are JSON on the wire; their envelope ids travel as headers too."""

import hashlib

from orderstream.contracts.envelope import Message

HEADER_KEYS = ("message_id", "correlation_id", "causation_id", "type")


def encode(message: Message) -> bytes:
    return message.model_dump_json().encode()


def order_trace_id(correlation_id: str) -> int:
    """One trace per order: its id comes from the correlation id (the order id)."""
    return int(hashlib.sha256(correlation_id.encode()).hexdigest()[:32], 16)


def order_span_id(message_id: str) -> int:
    return int(hashlib.sha256(message_id.encode()).hexdigest()[:16], 16)


def traceparent(message: Message) -> str:
    """A W3C traceparent from the message itself, for a message sent from no span (tracing off):
    the order's trace, one span id per message. The order's first message (its id is the
    correlation id) names the span id of the order's root span (runtime/tracing.py)."""
    return f"00-{order_trace_id(message.correlation_id):032x}-{order_span_id(message.message_id):016x}-01"


def headers(message: Message, parent: str | None = None) -> list[tuple[str, bytes]]:
    """The envelope's ids, and the traceparent of the span that sends it (`parent`) or else one
    from the message itself."""
    pairs = [(name, str(getattr(message, name) or "").encode()) for name in HEADER_KEYS]
    return pairs + [("traceparent", (parent or traceparent(message)).encode())]
