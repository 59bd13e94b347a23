"""Order: the lifecycle of one order and the record of its saga.

Commands come from the edge (CreateOrder, CancelOrder, RequestReturn, UpdateOrderStatus), from
the runtime's deadline scan (StepDeadlinePassed), and as replies from the other contexts,
routed here by their `order_id`. The order records which steps are done and which
compensations are outstanding; orchestration.py turns its events into commands.
"""

from typing import assert_never

from orderstream.contracts.envelope import Message, derive
from orderstream.contracts.ids import return_refund_id, payment_id_for
from orderstream.contracts.order import (
    CancelOrder, CreateOrder, OrderCreated, OrderReturnRequested,
    OrderStatusUpdated, OrderTransitionRejected, RequestReturn, StepDeadlinePassed,
    StepRetried, UpdateOrderStatus)
from orderstream.domain import Decider
from orderstream.order.replies import REPLIES, Reply, cancel, cancelled, on_reply
from orderstream.order.state import Order, evolve
from orderstream.order.flow import CANCELLABLE, FLOW, deadline

MANUAL = {("Preparing", "Shipped"), ("Shipped", "Delivered")}

OrderCommand = (CreateOrder | CancelOrder | RequestReturn | UpdateOrderStatus
                | StepDeadlinePassed | Reply)


def decide(cmd: OrderCommand, state: Order) -> list[Message]:
    match cmd:
        case CreateOrder():
            return _create(cmd, state)
        case CancelOrder():
            return _cancel(cmd, state)
        case RequestReturn():
            return _request_return(cmd, state)
        case UpdateOrderStatus():
            return _update_status(cmd, state)
        case StepDeadlinePassed():
            return _deadline_passed(cmd, state)
        case _ if isinstance(cmd, REPLIES):
            return on_reply(cmd, state)
        case _:
            assert_never(cmd)


def _create(cmd: CreateOrder, state: Order) -> list[Message]:
    if state.status is not None and state.customer_id != cmd.customer_id:
        return [_rejected(cmd, state, "Pending", "order id already used by another customer")]
    source = cmd if state.status is None else state  # a repeat restates the original
    first = FLOW[0]
    start = state.created_at or cmd.occurred_at
    return [derive(cmd, OrderCreated, order_id=cmd.order_id, customer_id=source.customer_id,
                   account_id=source.account_id, items=source.items,
                   shipping_address=source.shipping_address,
                   payment_method=source.payment_method, card_ref=source.card_ref,
                   policy=source.policy, step=first,
                   deadline=deadline(source.policy, start, 1, cmd.order_id, first))]


def _cancel(cmd: CancelOrder, state: Order) -> list[Message]:
    if state.status == "Cancelled":
        return [cancelled(cmd, state, state.reason, state.undo)]
    if state.status not in CANCELLABLE:
        return [_rejected(cmd, state, "Cancelled", f"an order that is {state.status} "
                          "cannot be cancelled" if state.status else "no such order")]
    return cancel(cmd, state, f"cancelled: {cmd.reason}")


def _request_return(cmd: RequestReturn, state: Order) -> list[Message]:
    if state.status not in ("Delivered", "ReturnRequested"):
        return [_rejected(cmd, state, "ReturnRequested", "only a delivered order can be "
                          f"returned; this one is {state.status or 'unknown'}")]
    started = state.status_times.get("ReturnRequested", cmd.occurred_at)
    return [derive(cmd, OrderReturnRequested, order_id=state.order_id,
                   customer_id=state.customer_id,
                   reason=state.reason if state.status == "ReturnRequested" else cmd.reason,
                   payment_id=payment_id_for(state.order_id),
                   refund_id=return_refund_id(state.order_id),
                   deadline=deadline(state.policy, started, 1, state.order_id, "return"))]


def _update_status(cmd: UpdateOrderStatus, state: Order) -> list[Message]:
    repeat = state.status == cmd.status
    previous = next((a for a, b in MANUAL if b == cmd.status), None) if repeat else state.status
    if (previous, cmd.status) not in MANUAL:
        return [_rejected(cmd, state, cmd.status, f"{state.status or 'unknown'} → {cmd.status} "
                          "is not a manual transition; the saga drives it")]
    return [derive(cmd, OrderStatusUpdated, order_id=state.order_id,
                   customer_id=state.customer_id, from_status=previous, status=cmd.status,
                   reason=cmd.reason)]


def _deadline_passed(cmd: StepDeadlinePassed, state: Order) -> list[Message]:
    if state.step != cmd.step or state.attempt != cmd.attempt or state.deadline is None:
        return []  # stale: that attempt was answered or already retried
    exhausted = cmd.attempt > state.policy.max_retries
    if exhausted and cmd.step not in ("compensation", "return"):
        return cancel(cmd, state, f"{cmd.step} step timed out after {cmd.attempt} attempts")
    attempt = cmd.attempt + 1
    return [derive(cmd, StepRetried, order_id=state.order_id, customer_id=state.customer_id,
                   step=cmd.step, attempt=attempt, items=state.items, undo=state.undo,
                   total_amount=state.total_amount or None, currency=state.currency or None,
                   deadline=deadline(state.policy, cmd.now, attempt, state.order_id, cmd.step))]


def _rejected(cmd: Message, state: Order, attempted: str, reason: str) -> Message:
    return derive(cmd, OrderTransitionRejected, order_id=cmd.key, from_status=state.status,
                  attempted=attempted, reason=reason)


orders = Decider[Order](
    name="orders",
    commands=(CreateOrder, CancelOrder, RequestReturn, UpdateOrderStatus, StepDeadlinePassed,
              *REPLIES),
    state=Order, initial=lambda order_id: Order(order_id=order_id),
    decide=decide, evolve=evolve, wakes="deadline")

DECIDERS = (orders,)
