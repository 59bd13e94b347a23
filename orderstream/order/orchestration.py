"""Orchestration: the order aggregate drives the flow. After the order records an event, the
runtime calls `orchestrate(event, new_state)` and sends the commands it returns."""

from orderstream.contracts.catalog import CommitReservation, ReserveItems
from orderstream.contracts.envelope import Message, derive
from orderstream.contracts.ids import payment_id_for, shipment_id_for
from orderstream.contracts.order import (CompensationRequested, OrderCancelled, OrderCreated,
                                         OrderFailed, OrderProgressed, OrderReturnRequested,
                                         OrderStatusUpdated, Step, StepRetried)
from orderstream.contracts.payment import ProcessPayment
from orderstream.contracts.shipment import CreateShipment
from orderstream.order.state import Order
from orderstream.saga.compensations import compensations, return_refund, take_back


def orchestrate(event: Message, state: Order) -> list[Message]:
    match event:
        case OrderCreated():
            return step_commands(state, event.step, event)
        case OrderProgressed(completed="dispatch"):
            return [derive(event, CommitReservation, order_id=state.order_id)]
        case OrderProgressed():
            return step_commands(state, event.step, event)
        case StepRetried(step="compensation"):
            return compensations(state.order_id, event.undo, event, state.reason or "retry")
        case StepRetried():
            return step_commands(state, event.step, event)
        case OrderFailed() | OrderCancelled() | CompensationRequested():
            return compensations(state.order_id, event.undo, event, event.reason)
        case OrderReturnRequested():
            return take_back(state.order_id, event, event.reason)
        case OrderStatusUpdated(status="Shipped"):
            return [derive(event, CommitReservation, order_id=state.order_id)]
        case _:
            return []


def step_commands(state: Order, step: Step | None, cause: Message) -> list[Message]:
    """The command that performs `step` for this order (sent again on a retry)."""
    order_id = state.order_id
    match step:
        case "reservation":
            return [derive(cause, ReserveItems, order_id=order_id, items=state.items)]
        case "payment":
            return [derive(cause, ProcessPayment, payment_id=payment_id_for(order_id),
                           order_id=order_id, account_id=state.account_id,
                           amount=state.total_amount, currency=state.currency,
                           payment_method=state.payment_method, card_ref=state.card_ref)]
        case "shipment":
            return [derive(cause, CreateShipment, shipment_id=shipment_id_for(order_id),
                           order_id=order_id, items=state.items,
                           address=state.shipping_address)]
        case "return":
            return [return_refund(order_id, cause, state.reason or "return")]
        case _:
            return []  # dispatch and delivery are the carrier's; nothing to send
