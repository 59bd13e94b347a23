"""Where every message goes: the one table the runtime and the in-memory simulation share.

- A command goes to `<msg.context>.commands` keyed by `msg.key`, and there to the one decider
  of that context that accepts its type (`decider_for`).
- An event goes to `<its context>.events` keyed by `msg.key`; then `routes(event)` names the
  deciders that consume it as a reply, and the key to use: the field below of the event.
- Then the context's `react(event)` and the saga's `orchestrate`/`choreograph` give commands.
"""

from orderstream.account import decider as account
from orderstream.catalog import decider as catalog
from orderstream.contracts.account import (AccountCredited, AccountDebited, CreditRefused,
                                           DebitRefused, InsufficientFunds)
from orderstream.contracts.catalog import ProductReserved, ProductUnavailable, StockChecked
from orderstream.contracts.envelope import Message
from orderstream.customer.decider import ORDER_EVENTS
from orderstream.order.replies import REPLIES
from orderstream.customer import decider as customer
from orderstream.domain import Decider
from orderstream.order import decider as order
from orderstream.payment import decider as payment
from orderstream.shipment import decider as shipment

CONTEXTS = {"catalog": catalog, "customer": customer, "account": account, "order": order,
            "payment": payment, "shipment": shipment}

REPLY_KEY = {"reservations": "order_id", "payments": "payment_id", "orders": "order_id",
             "customers": "customer_id"}
"""A decider that consumes other aggregates' events finds its aggregate id in this field."""

SUBSCRIPTIONS: dict[str, tuple[type[Message], ...]] = {
    "reservations": (StockChecked, ProductReserved, ProductUnavailable),
    "payments": (AccountDebited, InsufficientFunds, DebitRefused, AccountCredited,
                 CreditRefused),
    "orders": REPLIES,
    "customers": ORDER_EVENTS,
}
"""The events each decider consumes as replies; everything else it accepts is a command."""


def _tables() -> tuple[dict[str, tuple[str, Decider]], dict[str, list[tuple[str, Decider]]]]:
    commands: dict[str, tuple[str, Decider]] = {}
    replies: dict[str, list[tuple[str, Decider]]] = {}
    for context, module in CONTEXTS.items():
        for decider in module.DECIDERS:
            subscribed = SUBSCRIPTIONS.get(decider.name, ())
            for cls in decider.commands:
                if cls in subscribed:
                    replies.setdefault(cls.__name__, []).append((context, decider))
                else:
                    commands[cls.__name__] = (context, decider)
    return commands, replies


_COMMANDS, _REPLIES = _tables()


def decider_for(message: Message) -> tuple[str, Decider]:
    """The context and decider that handle a command sent to `<context>.commands`."""
    found = _COMMANDS.get(message.type)
    if found is None:
        raise ValueError(f"no decider accepts {message.type}")
    return found


def is_command(message: Message) -> bool:
    return message.type in _COMMANDS


def routes(event: Message) -> list[tuple[str, Decider, str]]:
    """(context, decider, aggregate id) of every consumer of this event as a reply."""
    found = []
    for context, decider in _REPLIES.get(event.type, []):
        key = getattr(event, REPLY_KEY[decider.name], None)
        if key:
            found.append((context, decider, key))
    return found


def reactions(event: Message) -> list[Message]:
    """The context-internal commands (e.g. the reservation's fan-out to its products)."""
    return CONTEXTS[event.context].react(event)
