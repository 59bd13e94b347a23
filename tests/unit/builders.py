"""Message builders for the unit tests: fixed ids and times, so tests read as scenarios."""

from datetime import datetime, timedelta, timezone
from itertools import count

from orderstream.contracts.common import Address, Item, OrderLine
from orderstream.contracts.envelope import Message
from orderstream.contracts.payment import card_ref

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
_ids = count(1)
ADDRESS = Address(recipient="Ada Lovelace", line1="1 Analytical St", city="London",
                  postal_code="N1 9GU", country="GB")
CARD_REF = card_ref("tok")


def line(product_id: str = "p1", quantity: int = 1) -> Item:
    return Item(product_id=product_id, quantity=quantity)


def priced(product_id: str = "p1", quantity: int = 1, unit_price: int = 500) -> OrderLine:
    return OrderLine(product_id=product_id, quantity=quantity, unit_price=unit_price)


def msg(cls: type[Message], at: datetime = T0, message_id: str | None = None,
        **fields: object) -> Message:
    """A message as the edge would make it: a fresh id and the current time."""
    return cls.new(message_id=message_id or f"m{next(_ids)}", occurred_at=at,
                   correlation_id=str(fields.get("order_id", "c")), **fields)


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def strip(messages: list[Message]) -> list[tuple[str, dict]]:
    """Messages without their envelope: what a test compares."""
    drop = {"message_id", "correlation_id", "causation_id", "occurred_at"}
    return [(m.type, m.model_dump(exclude=drop | {"type"})) for m in messages]


def fold(decider, key: str, given: list[Message] = ()):  # type: ignore[no-untyped-def]
    """The state of aggregate `key` after `given` events (given–when–then)."""
    return decider.fold(decider.initial(key), given)


def run(decider, key: str, given: list[Message], when: Message) -> list[Message]:  # type: ignore[no-untyped-def]
    """decide `when` on the state after `given`; also checks that folding the answer works
    and that deciding the same message again answers the same (idempotency)."""
    state = fold(decider, key, given)
    emitted = decider.decide(when, state)
    after = decider.fold(state, emitted)
    again = decider.decide(when, after)
    assert decider.fold(after, again) == after, "a repeat must change nothing"
    assert decider.state.model_validate_json(after.model_dump_json()) == after
    return emitted


def types(messages: list[Message]) -> list[str]:
    return [m.type for m in messages]
