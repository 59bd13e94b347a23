"""The one codec: messages are JSON on the wire; their envelope ids travel as headers too."""

import hashlib

from orderstream.contracts.envelope import Message

HEADER_KEYS = ("message_id", "correlation_id", "causation_id", "type")


def encode(message: Message) -> bytes:
    return message.model_dump_json().encode()


def traceparent(message: Message) -> str:
    """A W3C traceparent: one trace per order (correlation id), one span id per message."""
    trace_id = hashlib.sha256(message.correlation_id.encode()).hexdigest()[:32]
    span_id = hashlib.sha256(message.message_id.encode()).hexdigest()[:16]
    return f"00-{trace_id}-{span_id}-01"


def headers(message: Message) -> list[tuple[str, bytes]]:
    pairs = [(name, str(getattr(message, name) or "").encode()) for name in HEADER_KEYS]
    return pairs + [("traceparent", traceparent(message).encode())]
