"""How the order takes the other contexts' replies: a step done, a step failed, a
compensation confirmed or refused, or a late success that must itself be undone."""

from typing import Any

from orderstream.contracts.account import AccountInvalid, AccountValid
from orderstream.contracts.catalog import (ItemsAvailable, ItemsReserved, ItemsUnavailable,
                                           ReservationRejected, ReservationReleased)
from orderstream.contracts.envelope import Message, derive
from orderstream.contracts.ids import return_refund_id
from orderstream.contracts.order import (Compensation, CompensationConfirmed,
                                         CompensationFailed, CompensationRequested,
                                         OrderCancelled, OrderConfirmed, OrderFailed, OrderProgressed,
                                         OrderReturned, Step)
from orderstream.contracts.payment import (PaymentAlreadyProcessed, PaymentFailed,
                                           PaymentRefunded, PaymentSucceeded, PaymentVoided,
                                           RefundFailed, RefundRejected)
from orderstream.contracts.shipment import (ShipmentCancelled, ShipmentCreated,
                                            ShipmentDelivered, ShipmentDispatched,
                                            ShipmentFailed, ShipmentRejected)
from orderstream.order.state import Order
from orderstream.order.flow import (CANCELLABLE, FLOW, FAILED_STATUS, STATUS_WHILE, TIMED,
                                   UNDO_DONE, deadline, next_step, undo_all, undo_for)

STEP_REPLIES = (ItemsAvailable, ItemsUnavailable, ItemsReserved, AccountValid, AccountInvalid,
                PaymentSucceeded, PaymentFailed, PaymentAlreadyProcessed, ShipmentCreated,
                ShipmentFailed, ShipmentDispatched, ShipmentDelivered)
CONFIRMATIONS: dict[type[Message], tuple[Compensation, ...]] = {
    ReservationReleased: ("release_reservation",), PaymentVoided: ("void_payment",),
    PaymentRefunded: ("refund_payment", "void_payment"), ShipmentCancelled: ("cancel_shipment",)}
COMPENSATION_FAILURES: dict[type[Message], Compensation] = {
    ReservationRejected: "release_reservation", RefundFailed: "refund_payment",
    RefundRejected: "refund_payment", ShipmentRejected: "cancel_shipment"}
REPLIES = (*STEP_REPLIES, *CONFIRMATIONS, *COMPENSATION_FAILURES)
Reply = (ItemsAvailable | ItemsUnavailable | ItemsReserved | AccountValid | AccountInvalid
         | PaymentSucceeded | PaymentFailed | PaymentAlreadyProcessed | ShipmentCreated
         | ShipmentFailed | ShipmentDispatched | ShipmentDelivered | ReservationReleased
         | PaymentVoided | PaymentRefunded | ShipmentCancelled | ReservationRejected
         | RefundFailed | RefundRejected | ShipmentRejected)


def on_reply(reply: Reply, state: Order) -> list[Message]:
    if state.status is None:
        return []
    if isinstance(reply, PaymentRefunded) and reply.refund_id == return_refund_id(state.order_id):
        return _returned(reply, state)
    if type(reply) in CONFIRMATIONS:
        return _confirmed(reply, state, CONFIRMATIONS[type(reply)])
    if type(reply) in COMPENSATION_FAILURES:
        return _compensation_failed(reply, state, COMPENSATION_FAILURES[type(reply)])
    step, ok, detail = classify(reply)
    if step in state.done:
        return [_progressed(reply, state, step, {}, restate=True)] if _last(state, step) else []
    if step != state.step:
        if ok and _overtook(state, step):
            return []
        return _late(reply, state, step) if ok else []
    return _progress(reply, state, step, detail) if ok else _fail(reply, state, step, detail)


def classify(reply: Message) -> tuple[Step, bool, dict[str, Any]]:
    """The step a reply answers, whether it succeeded, and its references or reason."""
    match reply:
        case ItemsAvailable():
            return "availability", True, {}
        case ItemsUnavailable():
            step: Step = "availability" if reply.stage == "check" else "reservation"
            return step, False, {"reason": reply.reason or f"out of stock: {reply.product_id} "
                                 f"requested {reply.requested_qty}, available {reply.available_qty}"}
        case ItemsReserved():
            return "reservation", True, {"reservation_id": reply.reservation_id,
                                         "lines": reply.items, "total_amount": reply.total_amount,
                                         "currency": reply.currency}
        case AccountValid():
            return "account", True, {}
        case AccountInvalid():
            return "account", False, {"reason": f"account {reply.reason}"}
        case PaymentSucceeded():
            return "payment", True, {"payment_id": reply.payment_id,
                                     "transaction_id": reply.transaction_id}
        case PaymentAlreadyProcessed() if reply.status == "succeeded":
            return "payment", True, {"payment_id": reply.payment_id,
                                     "transaction_id": reply.transaction_id or "-"}
        case PaymentFailed() | PaymentAlreadyProcessed():
            return "payment", False, {"reason": f"payment failed: {reply.reason or 'voided'}"}
        case ShipmentCreated():
            return "shipment", True, {"shipment_id": reply.shipment_id,
                                      "tracking_number": reply.tracking_number}
        case ShipmentFailed():
            return "shipment", False, {"reason": f"shipment failed: {reply.reason}"}
        case ShipmentDispatched():
            return "dispatch", True, {}
        case ShipmentDelivered():
            return "delivery", True, {}
    raise TypeError(f"not a step reply: {type(reply).__name__}")


def _overtook(state: Order, step: Step) -> bool:
    """In choreography a success for a step after the one the order waits for was caused by
    that one's success, whose reply it overtook (Kafka orders nothing across producers): the
    order is going well, so it is not undone (README, bug 14). It is not kept either: the
    order asks for it again when the step it reaches times out, and the answer restates it
    (PaymentAlreadyProcessed, a shipment's ShipmentCreated)."""
    return (state.policy.mode == "choreography" and state.step in FLOW and step in FLOW
            and FLOW.index(step) > FLOW.index(state.step)
            and state.status == STATUS_WHILE[state.step])


def _progress(reply: Message, state: Order, step: Step, refs: dict[str, Any]) -> list[Message]:
    return [_progressed(reply, state, step, refs)]


def _last(state: Order, step: Step) -> bool:
    """Was `step` the last thing that happened? Then a repeated reply restates it."""
    after = next_step(step)
    return state.done[-1] == step and state.step == after and state.status == STATUS_WHILE[after]


def _progressed(reply: Message, state: Order, step: Step, refs: dict[str, Any],
                restate: bool = False) -> Message:
    after = next_step(step)
    if restate:  # a redelivered reply: the step and deadline already recorded
        due = state.deadline
    else:
        due = deadline(state.policy, reply.occurred_at, 1, state.order_id, after or "done") \
            if after in TIMED else None
    if step == FLOW[-1]:  # the flow is done: confirmed, with what it costs
        return derive(reply, OrderConfirmed, order_id=state.order_id,
                      customer_id=state.customer_id, completed=step, status=STATUS_WHILE[after],
                      step=after, deadline=due, total_amount=state.total_amount,
                      currency=state.currency, **{"tracking_number": state.tracking_number, **refs})
    return derive(reply, OrderProgressed, order_id=state.order_id,
                  customer_id=state.customer_id, completed=step, status=STATUS_WHILE[after],
                  step=after, deadline=due, **refs)


def _fail(reply: Message, state: Order, step: Step, detail: dict[str, str]) -> list[Message]:
    undo = undo_for(state.done, None)
    due = deadline(state.policy, reply.occurred_at, 1, state.order_id, "compensation")
    return [derive(reply, OrderFailed, order_id=state.order_id, customer_id=state.customer_id,
                   status=FAILED_STATUS[step], reason=detail["reason"], undo=undo,
                   deadline=due if undo else None)]


def _late(reply: Message, state: Order, step: Step) -> list[Message]:
    """A step succeeded after the order stopped waiting for it: undo it, once."""
    undo = UNDO_DONE.get(step)
    if undo is None or undo in state.undo or undo in state.compensated:
        return []
    return [derive(reply, CompensationRequested, order_id=state.order_id,
                   customer_id=state.customer_id, undo=(undo,),
                   reason=f"{step} completed after the order was {state.status}",
                   deadline=deadline(state.policy, reply.occurred_at, 1, state.order_id,
                                     "compensation"))]


def _confirmed(reply: Message, state: Order, done: tuple[Compensation, ...]) -> list[Message]:
    """Once nothing is outstanding, a failed order, or one whose shipment was cancelled first,
    is Cancelled, giving back what the steps done still hold."""
    confirmed = [c for c in state.undo if c in done]
    events: list[Message] = [derive(reply, CompensationConfirmed, salt=c,
                                    order_id=state.order_id, customer_id=state.customer_id,
                                    compensation=c) for c in confirmed]
    if confirmed and set(state.undo) <= set(done) and state.status in (
            "PaymentFailed", "ShipmentFailed", *CANCELLABLE):
        rest = tuple(c for c in undo_for(state.done, None)
                     if c not in state.compensated and c not in confirmed)
        events.append(cancelled(reply, state, state.reason, rest))
    return events


def cancel(cause: Message, state: Order, reason: str) -> list[Message]:
    """Undo every step done or in flight; a shipment with a label first and alone, so that the
    money and the stock go back only once the goods can no longer leave (`_confirmed`). If they have
    left, the cancel comes too late and the order ships (`_compensation_failed`)."""
    undo = undo_for(state.done, state.step)
    if "shipment" not in state.done and "cancel_shipment" not in state.undo:
        # no label yet (none, or the carrier has not answered: a slow carrier must not hold
        # the refund): everything is undone at once, the label cancelled by key
        if state.policy.mode == "choreography":  # every step, as if in flight (bugs 6, 13)
            undo = undo_all(state.done)
        return [cancelled(cause, state, reason, undo)]
    return [derive(cause, CompensationRequested, order_id=state.order_id,
                   customer_id=state.customer_id, undo=("cancel_shipment",), reason=reason,
                   deadline=deadline(state.policy, cause.occurred_at, 1, state.order_id,
                                     "compensation"))]


def cancelled(cause: Message, state: Order, reason: str,
              undo: tuple[Compensation, ...]) -> OrderCancelled:
    due = deadline(state.policy, cause.occurred_at, 1, state.order_id, "compensation")
    return derive(cause, OrderCancelled, order_id=state.order_id, customer_id=state.customer_id,
                  reason=reason, undo=undo, deadline=due if undo else None)


def _compensation_failed(reply: Message, state: Order, what: Compensation) -> list[Message]:
    if what not in state.undo or (isinstance(reply, ShipmentRejected)
                                  and reply.command != "CancelShipment"):
        return []  # a refused tracking update says nothing about the cancel
    failed = derive(reply, CompensationFailed, order_id=state.order_id,
                    customer_id=state.customer_id, compensation=what,
                    reason=getattr(reply, "reason"))
    if what == "cancel_shipment" and state.status in CANCELLABLE:
        return [failed, _progressed(reply, state, "dispatch", {})]  # too late: it ships
    return [failed]


def _returned(reply: PaymentRefunded, state: Order) -> list[Message]:
    if state.status not in ("ReturnRequested", "Returned"):
        return []
    return [derive(reply, OrderReturned, order_id=state.order_id,
                   customer_id=state.customer_id, refund_id=reply.refund_id,
                   amount=reply.amount)]
