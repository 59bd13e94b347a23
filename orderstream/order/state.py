"""The state of one order, and how its events change it (see decider.py for the rules)."""

from datetime import datetime
from typing import assert_never

from orderstream.contracts.common import Address, Item, OrderLine, Value
from orderstream.contracts.order import (
    Compensation, CompensationConfirmed, CompensationFailed, CompensationRequested,
    OrderCancelled, OrderConfirmed, OrderCreated, OrderFailed, OrderProgressed, OrderReturned,
    OrderReturnRequested, OrderStatus, OrderStatusUpdated, OrderTransitionRejected, SagaPolicy,
    Step, StepRetried)
from orderstream.order.flow import FINAL_REFUSALS


class Order(Value):
    order_id: str
    status: OrderStatus | None = None
    customer_id: str = ""
    account_id: str = ""
    items: tuple[Item, ...] = ()
    lines: tuple[OrderLine, ...] = ()         # the items at catalog prices, once reserved
    total_amount: int = 0
    currency: str = ""
    shipping_address: Address | None = None
    payment_method: str = "account"
    card_ref: str | None = None
    policy: SagaPolicy = SagaPolicy()
    done: tuple[Step, ...] = ()
    step: Step | None = None                  # the step awaited now
    attempt: int = 0
    deadline: datetime | None = None          # when the awaited step times out
    undo: tuple[Compensation, ...] = ()       # compensations sent, not yet confirmed
    compensated: tuple[Compensation, ...] = ()
    compensated_at: tuple[int, ...] = ()      # statuses entered when each of those was confirmed
    reason: str = ""                          # why it failed or was cancelled
    compensation_error: str = ""
    reservation_id: str | None = None
    payment_id: str | None = None
    transaction_id: str | None = None
    shipment_id: str | None = None
    tracking_number: str | None = None
    refund_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    status_times: dict[str, datetime] = {}


OrderEvent = (OrderCreated | OrderProgressed | OrderConfirmed | OrderFailed | OrderCancelled
              | CompensationRequested | CompensationConfirmed | CompensationFailed
              | OrderStatusUpdated | OrderReturnRequested | OrderReturned | StepRetried
              | OrderTransitionRejected)
_REFS = ("reservation_id", "payment_id", "transaction_id", "shipment_id", "tracking_number",
         "lines", "total_amount", "currency")


def evolve(state: Order, event: OrderEvent) -> Order:
    match event:
        case OrderCreated() if state.status is None:
            return _created(state, event)
        case OrderProgressed() if event.completed not in state.done:
            return _progressed(state, event)
        case OrderFailed() | OrderCancelled():
            return _compensating(state, event, event.undo, event.deadline, event.reason,
                                 event.status)
        case CompensationRequested():
            return _compensating(state, event, event.undo, event.deadline, event.reason,
                                 state.status)
        case CompensationConfirmed() if event.compensation in state.undo:
            return _compensated(state, event)
        case CompensationFailed() if event.compensation in FINAL_REFUSALS \
                and event.compensation in state.undo:
            return _compensated(state, event)
        case CompensationFailed():
            return state.model_copy(update={"compensation_error": event.reason})
        case OrderStatusUpdated() if state.status != event.status:
            step = "delivery" if event.status == "Shipped" else None
            done = (*state.done, "dispatch") if event.status == "Shipped" else state.done
            return _moved(state.model_copy(update={"step": step, "done": done,
                                                   "deadline": None}), event, event.status)
        case OrderReturnRequested() if state.status == "Delivered":
            return _moved(state.model_copy(update={
                "step": "return", "attempt": 1, "deadline": event.deadline,
                "refund_id": event.refund_id, "reason": event.reason}), event, event.status)
        case OrderReturned() if state.status == "ReturnRequested":
            return _moved(state.model_copy(update={"step": None, "deadline": None}),
                          event, event.status)
        case StepRetried() if event.step == state.step:
            return state.model_copy(update={"attempt": event.attempt,
                                            "deadline": event.deadline})
        case OrderCreated() | OrderProgressed() | OrderConfirmed() | CompensationConfirmed() \
                | OrderStatusUpdated() | OrderReturnRequested() | OrderReturned() \
                | StepRetried() | OrderTransitionRejected():
            return state
        case _:
            assert_never(event)


def _created(state: Order, event: OrderCreated) -> Order:
    fields = event.model_dump(exclude={"type", "message_id", "correlation_id", "causation_id",
                                       "occurred_at", "deadline"})
    fields.update(shipping_address=event.shipping_address, policy=event.policy,
                  items=event.items, attempt=1, deadline=event.deadline,
                  created_at=event.occurred_at)
    return _moved(state.model_copy(update=fields), event, "Pending")


def _progressed(state: Order, event: OrderProgressed) -> Order:
    refs = {name: getattr(event, name) for name in _REFS if getattr(event, name) is not None}
    return _moved(state.model_copy(update={
        **refs, "done": (*state.done, event.completed), "step": event.step, "attempt": 1,
        "deadline": event.deadline}), event, event.status)


def _compensated(state: Order, event: CompensationConfirmed | CompensationFailed) -> Order:
    """A compensation no longer outstanding: confirmed, or refused for good."""
    undo = tuple(c for c in state.undo if c != event.compensation)
    done = isinstance(event, CompensationConfirmed)
    return state.model_copy(update={
        "undo": undo, "step": state.step if undo else None,
        "deadline": state.deadline if undo else None, "updated_at": event.occurred_at,
        **({"compensated": (*state.compensated, event.compensation),
            "compensated_at": (*state.compensated_at, len(state.status_times))} if done
           else {"compensation_error": event.reason})})


def _compensating(state: Order, event: OrderEvent, undo: tuple[Compensation, ...],
                  deadline: datetime | None, reason: str, status: OrderStatus | None) -> Order:
    outstanding = tuple(dict.fromkeys(
        (*state.undo, *(c for c in undo if c not in state.compensated))))
    moved = state.model_copy(update={
        "undo": outstanding, "reason": state.reason or reason,
        "step": "compensation" if outstanding else None,
        "attempt": _compensation_attempt(state),
        "deadline": (state.deadline if state.step == "compensation" else deadline)
        if outstanding else None})
    return _moved(moved, event, status) if status != state.status else moved


def _compensation_attempt(state: Order) -> int:
    """Attempts count on from an earlier round of compensations (a shipment cancelled first, a
    late success undone): the deadline message of each attempt has an id of its own."""
    if state.step == "compensation":
        return state.attempt
    return state.attempt + 1 if state.compensated else 1


def _moved(state: Order, event: OrderEvent, status: OrderStatus | None) -> Order:
    times = {**state.status_times, status: event.occurred_at} if status else state.status_times
    return state.model_copy(update={"status": status, "updated_at": event.occurred_at,
                                    "status_times": times})
