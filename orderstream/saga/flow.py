"""One statement of the order flow, shared by the order aggregate and both saga modes.

Steps run in the order of FLOWS[mode]; then the order waits, without a deadline, for dispatch
and delivery. A step awaited past its deadline is retried with exponential backoff and
deterministic jitter, then given up and compensated. Compensations are retried until done.
"""

from datetime import datetime, timedelta

from orderstream.contracts.catalog import ReleaseReservation, RestockItems
from orderstream.contracts.envelope import Message, derive, derived_id
from orderstream.contracts.ids import (compensation_refund_id, payment_id_for,
                                       return_refund_id, shipment_id_for)
from orderstream.contracts.order import Compensation, OrderStatus, SagaPolicy, Step
from orderstream.contracts.payment import CancelPayment, RefundPayment
from orderstream.contracts.shipment import CancelShipment

FLOWS: dict[str, tuple[Step, ...]] = {
    "orchestration": ("availability", "reservation", "account", "payment", "shipment"),
    "choreography": ("reservation", "payment", "shipment"),
}
AFTER_FLOW: tuple[Step, ...] = ("dispatch", "delivery")
TIMED: frozenset[Step] = frozenset({"availability", "reservation", "account", "payment",
                                    "shipment", "return", "compensation"})
STATUS_WHILE: dict[Step | None, OrderStatus] = {
    "availability": "Pending", "reservation": "Pending", "account": "Pending",
    "payment": "PaymentProcessing", "shipment": "PaymentConfirmed", "dispatch": "Preparing",
    "delivery": "Shipped", None: "Delivered"}
FAILED_STATUS: dict[Step, OrderStatus] = {
    "availability": "OutOfStock", "reservation": "OutOfStock", "account": "PaymentFailed",
    "payment": "PaymentFailed", "shipment": "ShipmentFailed"}
UNDO_DONE: dict[Step, Compensation] = {
    "reservation": "release_reservation", "payment": "refund_payment",
    "shipment": "cancel_shipment"}
UNDO_IN_FLIGHT: dict[Step, Compensation] = {
    "reservation": "release_reservation", "payment": "void_payment",
    "shipment": "cancel_shipment"}
CANCELLABLE: frozenset[OrderStatus] = frozenset({"Pending", "PaymentProcessing",
                                                 "PaymentConfirmed", "Preparing"})
TERMINAL: frozenset[OrderStatus] = frozenset({"Cancelled", "OutOfStock", "Returned",
                                              "Delivered"})


def next_step(mode: str, step: Step) -> Step | None:
    sequence = FLOWS[mode] + AFTER_FLOW
    position = sequence.index(step) + 1
    return sequence[position] if position < len(sequence) else None


def undo_for(done: tuple[Step, ...], in_flight: Step | None) -> tuple[Compensation, ...]:
    """What to undo: every step done, and the one in flight (it may still land)."""
    undo = [UNDO_DONE[step] for step in done if step in UNDO_DONE]
    if in_flight in UNDO_IN_FLIGHT and in_flight not in done:
        undo.append(UNDO_IN_FLIGHT[in_flight])
    return tuple(dict.fromkeys(undo))


def deadline(policy: SagaPolicy, start: datetime, attempt: int, *salt: str) -> datetime:
    """start + timeout, plus from the 2nd attempt on min(cap, base·2^(n-2)) + jitter < base.

    The jitter comes from the ids, so a replay computes the same deadline."""
    wait_ms = policy.step_timeout_ms
    if attempt > 1:
        jitter = int(derived_id(*salt, str(attempt))[:8], 16) / 2**32
        wait_ms += min(policy.backoff_cap_ms, policy.backoff_base_ms * 2 ** (attempt - 2))
        wait_ms += int(jitter * policy.backoff_base_ms)
    return start + timedelta(milliseconds=wait_ms)


def compensations(order_id: str, undo: tuple[Compensation, ...], cause: Message,
                  reason: str) -> list[Message]:
    """The commands that undo the given steps; each one is idempotent at its target."""
    commands: list[Message] = []
    for step in undo:
        match step:
            case "release_reservation":
                commands.append(derive(cause, ReleaseReservation, order_id=order_id,
                                       reason=reason))
            case "void_payment":
                commands.append(derive(cause, CancelPayment, payment_id=payment_id_for(order_id),
                                       order_id=order_id, reason=reason))
            case "refund_payment":
                commands.append(derive(cause, RefundPayment, payment_id=payment_id_for(order_id),
                                       refund_id=compensation_refund_id(order_id),
                                       reason=reason))
            case "cancel_shipment":
                commands.append(derive(cause, CancelShipment,
                                       shipment_id=shipment_id_for(order_id),
                                       order_id=order_id, reason=reason))
    return commands


def return_refund(order_id: str, cause: Message, reason: str) -> RefundPayment:
    return derive(cause, RefundPayment, payment_id=payment_id_for(order_id),
                  refund_id=return_refund_id(order_id), reason=reason)


def take_back(order_id: str, cause: Message, reason: str) -> list[Message]:
    """A return: the money back to the customer, the goods back on the shelf."""
    return [return_refund(order_id, cause, reason),
            derive(cause, RestockItems, order_id=order_id, reason=reason)]

