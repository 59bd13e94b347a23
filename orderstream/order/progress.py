"""What an order went through, for those who watch it: the entries of its live stream
(GET /orders/{id}/stream) and the saga's steps and compensations in /metrics. Read from the
order's state, before and after each step of its actor."""

import time

from orderstream.contracts.envelope import Message
from orderstream.contracts.order import CancelOrder, Compensation, StepDeadlinePassed
from orderstream.order.flow import STATUS_WHILE
from orderstream.order.state import Order

FAILED = {"OutOfStock": "out_of_stock", "PaymentFailed": "payment_failed",
          "ShipmentFailed": "shipment_failed"}  # failed statuses, and their reason in /metrics
Cursor = tuple[int, int, int]  # statuses, steps done and compensations done already sent
START: Cursor = (0, 0, 0)
KINDS = ("status", "step", "compensation")  # the event of each place in a cursor


def cursor(text: str) -> Cursor:
    """A Last-Event-ID: the cursor of the last entry a client had."""
    statuses, steps, undone = (int(part) for part in text.split("."))
    if min(statuses, steps, undone) < 0:
        raise ValueError(text)
    return statuses, steps, undone


def entry_id(at: Cursor) -> str:
    return ".".join(map(str, at))


def entries(state: Order, seen: Cursor) -> list[tuple[Cursor, str, dict]]:
    """The order's statuses entered, saga steps done and compensations done that are not in
    `seen`, each with the cursor after it (the three lists only grow, so a cursor is a place in
    all three), in the order they happened: a step came with the status after it (one event moved
    both), a compensation after the status the order had when it was confirmed. That order
    depends on the order's history only, not on when a reader looked: every reader of the stream
    gets the same entries under the same ids."""
    order_id, statuses = state.order_id, list(state.status_times.items())
    confirmed_at = (*state.compensated_at, *[len(statuses)] * len(state.compensated))  # older rows: last
    timeline = sorted(  # (place, kind, data); stable, so each kind keeps its own order
        [((n, 1), 0, {"order_id": order_id, "status": status, "at": at.isoformat(),
                      **({"reason": state.reason} if status in FAILED or status == "Cancelled" else {})})
         for n, (status, at) in enumerate(statuses, 1)]
        + [((n + 1, 0), 1, {"order_id": order_id, "step": step}) for n, step in enumerate(state.done, 1)]
        + [((confirmed_at[n], 2), 2, {"order_id": order_id, "compensation": compensation})
           for n, compensation in enumerate(state.compensated)],
        key=lambda entry: entry[0])
    count, found = [0, 0, 0], []
    for _, kind, data in timeline:
        count[kind] += 1
        if count[kind] > seen[kind]:
            found.append((tuple(map(max, count, seen)), KINDS[kind], data))
    return found


def step_ended(message: Message, before: Order, after: Order) -> tuple[str, str] | None:
    """The saga step that `message` ended, and how: succeeded, failed, timed_out or cancelled."""
    step = before.step
    if step is None or after.step == step:
        return None
    if step == "compensation" or (after.status not in FAILED and after.status != "Cancelled"):
        return step, "succeeded"
    if after.status in FAILED:
        return step, "failed"
    return step, "timed_out" if isinstance(message, StepDeadlinePassed) else "cancelled"


def compensations(message: Message, before: Order, after: Order) -> list[tuple[Compensation, str]]:
    """The compensations `message` made the order ask for, each with why, in a few words."""
    new = [c for c in after.undo if c not in before.undo]
    if not new:
        return []
    if isinstance(message, CancelOrder):
        reason = "cancelled_by_customer"
    elif isinstance(message, StepDeadlinePassed):
        reason = "step_timed_out"
    elif after.status in FAILED:
        reason = FAILED[after.status]
    else:
        reason = "late_success"  # a step answered after the order gave up on it
    return [(c, reason) for c in new]


class SagaClock:
    """Times the saga's steps with this worker's clock, from the actor step that began one to the
    one that ended it; a step begun before this worker had the order is timed from the time its
    status was entered."""

    def __init__(self, context: str, metrics, limit: int = 100_000):
        self.context, self.metrics, self.limit = context, metrics, limit
        self.started: dict[str, tuple[str, float]] = {}

    def __call__(self, message: Message, before: Order, events: list[Message], after: Order) -> None:
        now = time.time()
        if before.step != after.step:
            if (ended := step_ended(message, before, after)) is not None:
                self._observe(before, ended, now)
            if after.step is not None:
                self.started[after.order_id] = (after.step, now)
                if len(self.started) > self.limit:  # forget the oldest
                    del self.started[next(iter(self.started))]
        for compensation, reason in compensations(message, before, after):
            self.metrics.compensations.labels(self.context, compensation, reason).inc()

    def _observe(self, before: Order, ended: tuple[str, str], now: float) -> None:
        step, outcome = ended
        begun = self.started.pop(before.order_id, None)
        if begun is None or begun[0] != step:
            entered = before.status_times.get(STATUS_WHILE.get(step) or before.status or "")
            begun = (step, entered.timestamp() if entered else now)
        self.metrics.saga_steps.labels(self.context, step, outcome).observe(max(0.0, now - begun[1]))
