"""Every message of the system, by its `type` name, and the one way to decode one."""

import json

from orderstream.contracts import account, catalog, customer, order, payment, shipment
from orderstream.contracts.envelope import Message

MODULES = (catalog, customer, account, order, payment, shipment)


def _messages_of(module: object) -> dict[str, type[Message]]:
    found = {}
    for value in vars(module).values():
        fields = getattr(value, "model_fields", {})
        if isinstance(value, type) and issubclass(value, Message) and "type" in fields:
            literal = fields["type"].default
            if literal == value.__name__:
                found[literal] = value
    return found


MESSAGES: dict[str, type[Message]] = {
    name: cls for module in MODULES for name, cls in _messages_of(module).items()}


def decode(data: bytes | str) -> Message:
    """Decode one JSON message; ValueError for bad JSON or an unknown type, pydantic
    ValidationError (a ValueError) naming the field and the rule for invalid fields."""
    raw = data.encode() if isinstance(data, str) else data
    return message_type(raw).model_validate_json(raw)


PREFIX = b'{"type":"'


def message_type(raw: bytes) -> type[Message]:
    """The class a message names in `type`. Ours write it first (`{"type":"...`), so it is read
    without parsing the message twice; anything else is parsed to find it."""
    if raw.startswith(PREFIX) and (end := raw.find(b'"', len(PREFIX))) > 0:
        name: object = raw[len(PREFIX):end].decode(errors="replace")
    else:
        try:
            name = json.loads(raw).get("type")
        except (ValueError, AttributeError) as exc:
            raise ValueError(f"message is not a JSON object: {exc}") from None
    cls = MESSAGES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown message type {name!r}; known: {len(MESSAGES)} types, "
                         f"see orderstream/contracts/README.md")
    return cls
