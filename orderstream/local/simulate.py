"""An in-memory run of the whole system: every decider, both saga modes, fake ports.

It does what the runtime does, minus Kafka: a command goes to the decider of its context by
its key; each emitted event is folded into the state, routed to its reply consumers, and
handed to `react` and to the saga. Tests drive it; a demo could too. Redeliveries of the same
record are simulated by `redeliver(message) -> bool` (deterministic: the caller decides) and
decided again. `lose(message) -> bool` is a crash after the step's events reached Kafka and
before its row did (the runtime never sends a row before what its step caused): the row stays as
it was, and the record is decided again on it and sends the same messages again. A message an
aggregate applied before, arriving as a new record, is answered with nothing, as the runtime
does (runtime/store.py).
"""

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orderstream.account import decider as account
from orderstream.catalog import decider as catalog
from orderstream.contracts.envelope import Message, derive, derived_id
from orderstream.contracts.payment import (GatewayChargeRequested, GatewayRefundRequested,
                                           GatewayVoidRequested, RecordGatewayRefundResult,
                                           RecordGatewayResult, RecordGatewayVoidResult)
from orderstream.contracts.routes import route
from orderstream.contracts.shipment import (LabelCancelRequested, LabelRequested,
                                            RecordCarrierCancelResult, RecordCarrierResult)
from orderstream.customer import decider as customer
from orderstream.domain import Decider, Saga, follow_up
from orderstream.order import decider as order
from orderstream.order.deadlines import overdue
from orderstream.order.orchestration import orchestrate
from orderstream.payment import decider as payment
from orderstream.saga import saga_for
from orderstream.shipment import decider as shipment

CONTEXTS = {"catalog": catalog, "customer": customer, "account": account, "order": order,
            "payment": payment, "shipment": shipment}
DECIDERS: dict[tuple[str, str], Decider] = {
    (context, cls.__name__): decider for context, module in CONTEXTS.items()
    for decider in module.DECIDERS for cls in decider.commands}


def decider_for(context: str, message: Message) -> Decider:
    """The decider of `context` that accepts `message`: what its actor would hand it to."""
    found = DECIDERS.get((context, message.type))
    if found is None:
        raise ValueError(f"no decider of {context} accepts {message.type}")
    return found


Port = Callable[[Message], list[Message]]


@dataclass
class Ports:
    """Fake gateway and carrier: they answer at once, approving unless told otherwise, and keep
    books by idempotency key as the real ones do. `unseen(event)`: the call takes effect but its
    answer is lost (it comes back `unknown`), as when the client times out."""
    gateway_approves: bool = True
    carrier_accepts: bool = True
    unseen: Callable[[Message], bool] = lambda event: False
    charged: dict[str, int] = field(default_factory=dict)            # by charge key
    given_back: dict[str, int] = field(default_factory=dict)         # by refund or void key
    labels: dict[str, str] = field(default_factory=dict)             # label key -> status
    voided: set[str] = field(default_factory=set)                    # keys voided before use

    def kept(self, payment_id: str) -> int:
        """What the gateway holds of this payment's money (its charge key is the payment id)."""
        back = sum(amount for key, amount in self.given_back.items()
                   if key.startswith(f"{payment_id}/"))
        return self.charged.get(payment_id, 0) - back

    def __call__(self, event: Message) -> list[Message]:
        answer = self._answer(event)
        if answer is None:
            return []
        if self.unseen(event):
            return [answer.model_copy(update={"outcome": "unknown", "reason": "timed out",
                                              **UNSEEN.get(answer.type, {})})]
        return [answer]

    def _answer(self, event: Message) -> Message | None:
        match event:
            case GatewayChargeRequested():
                ok = self.gateway_approves and event.idempotency_key not in self.voided
                if ok:
                    self.charged.setdefault(event.idempotency_key, event.amount)
                return derive(event, RecordGatewayResult, payment_id=event.payment_id,
                              outcome="approved" if ok else "declined",
                              transaction_id=derived_id("txn", event.idempotency_key),
                              reason=None if ok else "card declined")
            case GatewayRefundRequested():
                self.given_back.setdefault(f"{event.payment_id}/{event.idempotency_key}",
                                           event.amount)
                return derive(event, RecordGatewayRefundResult, payment_id=event.payment_id,
                              refund_id=event.refund_id, outcome="approved")
            case GatewayVoidRequested():
                reversed_amount = self.kept(event.charge_key)
                if event.charge_key not in self.charged:
                    self.voided.add(event.charge_key)
                key = f"{event.charge_key}/void"
                self.given_back[key] = self.given_back.get(key, 0) + reversed_amount
                return derive(event, RecordGatewayVoidResult, payment_id=event.payment_id,
                              outcome="voided", reversed_amount=reversed_amount,
                              transaction_id=derived_id("txn", event.charge_key)
                              if reversed_amount else None)
            case LabelRequested():
                ok = self.carrier_accepts and event.idempotency_key not in self.voided
                if ok:
                    self.labels.setdefault(event.idempotency_key, "created")
                return derive(event, RecordCarrierResult, shipment_id=event.shipment_id,
                              outcome="accepted" if ok else "refused",
                              tracking_number=f"TRK-{event.shipment_id[:8]}",
                              carrier="sim", reason=None if ok else "address not served")
            case LabelCancelRequested():
                if event.label_key in self.labels:
                    self.labels[event.label_key] = "cancelled"
                else:
                    self.voided.add(event.label_key)
                return derive(event, RecordCarrierCancelResult, shipment_id=event.shipment_id,
                              outcome="cancelled")
            case _:
                return None


UNSEEN = {"RecordGatewayResult": {"transaction_id": None},
          "RecordGatewayVoidResult": {"transaction_id": None, "reversed_amount": 0},
          "RecordCarrierResult": {"tracking_number": None, "carrier": None}}


@dataclass
class Simulation:
    mode: str = "orchestration"
    ports: Port = field(default_factory=Ports)
    redeliver: Callable[[Message], bool] = lambda message: False
    lose: Callable[[Message], bool] = lambda message: False  # a crash: the events land, the row not
    states: dict[tuple[str, str], Any] = field(default_factory=dict)
    events: list[Message] = field(default_factory=list)
    sent: list[Message] = field(default_factory=list)  # every command: a test's, a saga's, a port's
    journal: list[tuple[str, str, Message]] = field(default_factory=list)  # (decider, key, event)
    queue: deque[tuple[Message, Decider | None, str]] = field(default_factory=deque)
    hold: Callable[[Message], bool] = lambda message: False
    held: list[Message] = field(default_factory=list)
    hold_replies: Callable[[Message], bool] = lambda message: False  # an event on its way to the order
    held_replies: list[tuple[Message, Decider, str]] = field(default_factory=list)
    seen: set[tuple[str, str, str]] = field(default_factory=set)  # (decider, key, message id)
    sagas: dict[str, Saga] = field(init=False)

    def __post_init__(self) -> None:
        self.sagas = {context: saga_for(self.mode, orchestrate if context == "order" else None)
                      for context in CONTEXTS}

    def send(self, *messages: Message) -> "Simulation":
        self.sent.extend(messages)
        self.queue.extend((message, None, message.key) for message in messages)
        return self

    def run(self, limit: int = 20_000) -> "Simulation":
        for _ in range(limit):
            if not self.queue:
                return self
            message, decider, key = self.queue.popleft()
            if decider is None and self.hold(message):
                self.held.append(message)  # a command stuck in flight, released later
                continue
            if decider is not None and self.hold_replies(message):
                self.held_replies.append((message, decider, key))  # a reply that comes late
                continue
            target = decider or decider_for(message.context, message)
            if (target.name, key, message.message_id) in self.seen:
                continue  # applied from another record before: a duplicate
            if self.lose(message):  # then the same record again, on the row as it was
                self._handle(target, key, message, keep=False)
            self._handle(target, key, message)
            if self.redeliver(message):
                self._handle(target, key, message)
        raise RuntimeError("simulation did not settle")

    def release_held(self) -> "Simulation":
        held, self.held = self.held, []
        self.hold = self.hold_replies = lambda message: False
        self.queue.extend(self.held_replies)
        self.held_replies = []
        return self.send(*held).run()

    def state(self, decider: Decider | str, key: str) -> Any:
        name = decider if isinstance(decider, str) else decider.name
        return self.states.get((name, key))

    def expire(self, order_id: str, now: datetime) -> "Simulation":
        """The runtime's deadline scan, for one order."""
        state = self.state("orders", order_id)
        command = overdue(state, now, derived_id("deadline", order_id, str(state.step),
                                                 str(state.attempt)))
        return self.send(command).run() if command else self

    def _handle(self, decider: Decider, key: str, message: Message, keep: bool = True) -> None:
        state = self.states.get((decider.name, key)) or decider.initial(key)
        emitted, after = decider.apply(message, state)
        if keep:  # a lost row's events are sent; nothing of the step is kept or journaled
            if after != state:
                self.seen.add((decider.name, key, message.message_id))
            self.states[(decider.name, key)] = after
            folded = [message] if isinstance(message, decider.folds) else []  # a read model's input
            self.journal.extend((decider.name, key, event) for event in [*folded, *emitted])
        for event in emitted:
            self._publish(decider, event, after)

    def _publish(self, decider: Decider, event: Message, state: Any) -> None:
        self.events.append(event)
        if (reply := route(event)) is not None:
            context, key = reply
            self.queue.append((event, decider_for(context, event), key))
        saga = self.sagas[event.context]
        self.send(*follow_up(decider, saga, event, state, event.occurred_at), *self.ports(event))
