"""One statement of the order flow: its steps, the status while each is awaited, what a
failure undoes, and when a step times out.

Steps run in the order of FLOW in both saga modes; then the order waits, without a deadline, for
dispatch and delivery. A step awaited past its deadline is retried with exponential backoff and
deterministic jitter, then given up and compensated. Compensations are retried until done, but
for a shipment's cancel refused because the goods have left: asking again cannot change that.
So a shipment is cancelled first, alone, and the money and the stock go back only once it is;
if it has left, the cancel comes too late and the order ships (order/replies.py).

The seed's happy path checks availability (CheckAvailability) and the account
(ValidateAccount) before reserving and charging. Both checks are done again, all or nothing, by
the step that follows (a reservation refuses what is not in stock, a debit refuses a frozen or
missing account), so the flow goes straight to those steps: two round trips fewer per order,
the same outcomes. Both commands stay in the catalog's and the account's vocabulary.
"""

from datetime import datetime, timedelta

from orderstream.contracts.envelope import derived_id
from orderstream.contracts.order import Compensation, OrderStatus, SagaPolicy, Step

FLOW: tuple[Step, ...] = ("reservation", "payment", "shipment")
AFTER_FLOW: tuple[Step, ...] = ("dispatch", "delivery")
TIMED: frozenset[Step] = frozenset({"reservation", "payment", "shipment", "return", "compensation"})
STATUS_WHILE: dict[Step | None, OrderStatus] = {
    "reservation": "Pending", "payment": "PaymentProcessing", "shipment": "PaymentConfirmed",
    "dispatch": "Preparing", "delivery": "Shipped", None: "Delivered"}
FAILED_STATUS: dict[Step, OrderStatus] = {
    "availability": "OutOfStock", "reservation": "OutOfStock", "account": "PaymentFailed",
    "payment": "PaymentFailed", "shipment": "ShipmentFailed"}
UNDO_DONE: dict[Step, Compensation] = {
    "reservation": "release_reservation", "payment": "refund_payment",
    "shipment": "cancel_shipment"}
UNDO_IN_FLIGHT: dict[Step, Compensation] = {
    "reservation": "release_reservation", "payment": "void_payment",
    "shipment": "cancel_shipment"}
FINAL_REFUSALS: frozenset[Compensation] = frozenset({"cancel_shipment"})
CANCELLABLE: frozenset[OrderStatus] = frozenset({"Pending", "PaymentProcessing",
                                                 "PaymentConfirmed", "Preparing"})
TERMINAL: frozenset[OrderStatus] = frozenset({"Cancelled", "OutOfStock", "Returned",
                                              "Delivered"})


def next_step(step: Step) -> Step | None:
    sequence = FLOW + AFTER_FLOW
    position = sequence.index(step) + 1
    return sequence[position] if position < len(sequence) else None


def undo_for(done: tuple[Step, ...], in_flight: Step | None) -> tuple[Compensation, ...]:
    """What to undo: every step done, and the one in flight (it may still land)."""
    undo = [UNDO_DONE[step] for step in done if step in UNDO_DONE]
    if in_flight in UNDO_IN_FLIGHT and in_flight not in done:
        undo.append(UNDO_IN_FLIGHT[in_flight])
    return tuple(dict.fromkeys(undo))


def undo_all(done: tuple[Step, ...]) -> tuple[Compensation, ...]:
    """What a cancel undoes in choreography, where the contexts go on without the order: every
    step done, and every other one as if in flight. The reservation the order waits for may be
    made, then charged, and the charge may schedule a label, none of which it has heard of yet;
    each of these compensations is idempotent, and a no-op where nothing happened."""
    return tuple(UNDO_DONE[step] if step in done else UNDO_IN_FLIGHT[step] for step in FLOW)


def deadline(policy: SagaPolicy, start: datetime, attempt: int, *salt: str) -> datetime:
    """start + timeout, plus from the 2nd attempt on min(cap, base·2^(n-2)) + jitter < base.

    The jitter comes from the ids, so a replay computes the same deadline."""
    wait_ms = policy.step_timeout_ms
    if attempt > 1:
        jitter = int(derived_id(*salt, str(attempt))[:8], 16) / 2**32
        wait_ms += min(policy.backoff_cap_ms, policy.backoff_base_ms * 2 ** (attempt - 2))
        wait_ms += int(jitter * policy.backoff_base_ms)
    return start + timedelta(milliseconds=wait_ms)
