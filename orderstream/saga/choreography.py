"""Choreography (the seed's "Saga Pattern (Choreography)"): each context reacts to the
others' events; no one drives. The runtime calls `choreograph(event)` on every event of
every context and sends the commands it returns.

Payment and shipment keep a copy of what they need from OrderCreated (PreparePayment,
PrepareShipment), so the later events need only carry the order id. The order still records
every event and keeps the deadlines; its StepRetried / OrderCancelled carry what a stateless
reaction needs to resend or compensate.
"""

from orderstream.contracts.catalog import CommitReservation, ItemsReserved, ReleaseReservation, ReserveItems
from orderstream.contracts.envelope import Message, derive
from orderstream.contracts.ids import compensation_refund_id, payment_id_for, shipment_id_for
from orderstream.contracts.order import (CompensationRequested, OrderCancelled, OrderCreated,
                                         OrderReturnRequested, OrderStatusUpdated, StepRetried)
from orderstream.contracts.payment import (ChargePayment, PaymentAlreadyProcessed,
                                           PaymentFailed, PaymentSucceeded, PreparePayment,
                                           RefundPayment)
from orderstream.contracts.shipment import (PrepareShipment, ScheduleShipment,
                                            ShipmentDispatched, ShipmentFailed)
from orderstream.saga.compensations import compensations, return_refund, take_back


def choreograph(event: Message) -> list[Message]:
    match event:
        case OrderCreated():
            return _order_created(event)
        case ItemsReserved():
            return [_charge(event, event.order_id, event.total_amount, event.currency)]
        case PaymentSucceeded() | PaymentAlreadyProcessed(status="succeeded"):
            return [_ship(event, event.order_id)]
        case PaymentFailed() | PaymentAlreadyProcessed(status="failed"):
            return [derive(event, ReleaseReservation, order_id=event.order_id,
                           reason=f"payment failed: {event.reason}")]
        case ShipmentFailed():
            return [derive(event, RefundPayment, payment_id=payment_id_for(event.order_id),
                           refund_id=compensation_refund_id(event.order_id),
                           reason=f"shipment failed: {event.reason}"),
                    derive(event, ReleaseReservation, order_id=event.order_id,
                           reason=f"shipment failed: {event.reason}")]
        case ShipmentDispatched() | OrderStatusUpdated(status="Shipped"):
            return [derive(event, CommitReservation, order_id=event.order_id)]
        case OrderCancelled() | CompensationRequested():
            return compensations(event.order_id, event.undo, event, event.reason)
        case OrderReturnRequested():
            return take_back(event.order_id, event, event.reason)
        case StepRetried():
            return _retry(event)
        case _:
            return []


def _order_created(event: OrderCreated) -> list[Message]:
    """Copies first: a charge or a schedule must never overtake the terms it needs."""
    return [derive(event, PreparePayment, payment_id=payment_id_for(event.order_id),
                   order_id=event.order_id, account_id=event.account_id,
                   payment_method=event.payment_method, card_ref=event.card_ref),
            derive(event, PrepareShipment, shipment_id=shipment_id_for(event.order_id),
                   order_id=event.order_id, items=event.items,
                   address=event.shipping_address),
            derive(event, ReserveItems, order_id=event.order_id, items=event.items)]


def _charge(cause: Message, order_id: str, amount: int, currency: str) -> ChargePayment:
    return derive(cause, ChargePayment, payment_id=payment_id_for(order_id), order_id=order_id,
                  amount=amount, currency=currency)


def _ship(cause: Message, order_id: str) -> ScheduleShipment:
    return derive(cause, ScheduleShipment, shipment_id=shipment_id_for(order_id),
                  order_id=order_id)


def _retry(event: StepRetried) -> list[Message]:
    match event.step:
        case "reservation" if event.items:
            return [derive(event, ReserveItems, order_id=event.order_id, items=event.items)]
        case "payment" if event.total_amount and event.currency:
            return [_charge(event, event.order_id, event.total_amount, event.currency)]
        case "shipment":
            return [_ship(event, event.order_id)]
        case "return":
            return [return_refund(event.order_id, event, "return (retry)")]
        case "compensation":
            return compensations(event.order_id, event.undo, event, "compensation (retry)")
        case _:
            return []
