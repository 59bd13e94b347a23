"""Where an event goes besides its own context's event log: the events that an aggregate of
another context (or another aggregate of the same one) consumes as a reply, and the field of the
event that holds that aggregate's id — its key on the consumer's command topic.

The emitting actor delivers each such event straight to `<consumer>.commands`, keyed by that
field; what the event then causes (reactions, the saga's next steps) is the emitter's business.
"""

from orderstream.contracts import account, catalog, order, payment, shipment
from orderstream.contracts.envelope import Message

_TO_RESERVATION = ("catalog", "order_id")   # a product's answer, to the order's reservation
_TO_PAYMENT = ("payment", "payment_id")     # the account's answer, to the payment
_TO_ORDER = ("order", "order_id")           # every saga step's answer, to the order
_TO_CUSTOMER = ("customer", "customer_id")  # where the order stands, to the customer's history

REPLIES: dict[type[Message], tuple[str, str]] = {
    catalog.StockChecked: _TO_RESERVATION, catalog.ProductReserved: _TO_RESERVATION,
    catalog.ProductUnavailable: _TO_RESERVATION,
    account.AccountDebited: _TO_PAYMENT, account.InsufficientFunds: _TO_PAYMENT,
    account.DebitRefused: _TO_PAYMENT, account.AccountCredited: _TO_PAYMENT,
    account.CreditRefused: _TO_PAYMENT,
    catalog.ItemsAvailable: _TO_ORDER, catalog.ItemsUnavailable: _TO_ORDER,
    catalog.ItemsReserved: _TO_ORDER, catalog.ReservationReleased: _TO_ORDER,
    catalog.ReservationRejected: _TO_ORDER,
    account.AccountValid: _TO_ORDER, account.AccountInvalid: _TO_ORDER,
    payment.PaymentSucceeded: _TO_ORDER, payment.PaymentFailed: _TO_ORDER,
    payment.PaymentAlreadyProcessed: _TO_ORDER, payment.PaymentVoided: _TO_ORDER,
    payment.PaymentRefunded: _TO_ORDER, payment.RefundFailed: _TO_ORDER,
    payment.RefundRejected: _TO_ORDER,
    shipment.ShipmentCreated: _TO_ORDER, shipment.ShipmentFailed: _TO_ORDER,
    shipment.ShipmentDispatched: _TO_ORDER, shipment.ShipmentDelivered: _TO_ORDER,
    shipment.ShipmentCancelled: _TO_ORDER, shipment.ShipmentRejected: _TO_ORDER,
    order.OrderCreated: _TO_CUSTOMER, order.OrderConfirmed: _TO_CUSTOMER, order.OrderFailed: _TO_CUSTOMER,
    order.OrderCancelled: _TO_CUSTOMER, order.OrderStatusUpdated: _TO_CUSTOMER,
    order.OrderReturnRequested: _TO_CUSTOMER, order.OrderReturned: _TO_CUSTOMER,
}


def route(event: Message) -> tuple[str, str] | None:
    """(consuming context, its aggregate's id) for a reply; None for an event nobody consumes."""
    found = REPLIES.get(type(event))
    if found is None:
        return None
    key = getattr(event, found[1], None)
    return (found[0], key) if key else None


def consumed_by(context: str) -> tuple[type[Message], ...]:
    return tuple(cls for cls, (to, _) in REPLIES.items() if to == context)
