"""What undoes a saga step, and what takes a delivered order back: the commands both saga
modes send (the order in orchestration, the contexts' reactions in choreography)."""

from orderstream.contracts.catalog import ReleaseReservation, RestockItems
from orderstream.contracts.envelope import Message, derive
from orderstream.contracts.ids import (compensation_refund_id, payment_id_for,
                                       return_refund_id, shipment_id_for)
from orderstream.contracts.order import Compensation
from orderstream.contracts.payment import CancelPayment, RefundPayment
from orderstream.contracts.shipment import CancelShipment


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

