"""Order messages, keyed by order id. Every order event carries `customer_id` (the customer's
order history is built from them) and `status` where the status changed.

The saga's policy (mode, timeouts, retries) is chosen at the edge from the settings and
recorded on the order, so an order finishes under the rules it started with.
"""

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from orderstream.contracts.common import (Address, Amount, Currency, Id, Item, Items, Lines,
                                          Reason, Value)
from orderstream.contracts.envelope import Message
from orderstream.contracts.payment import CardRef, PaymentMethod, card_required

OrderStatus = Literal["Pending", "PaymentProcessing", "PaymentConfirmed", "Preparing",
                      "Shipped", "Delivered", "Cancelled", "OutOfStock", "PaymentFailed",
                      "ShipmentFailed", "ReturnRequested", "Returned"]
Step = Literal["availability", "reservation", "account", "payment", "shipment",
               "dispatch", "delivery", "return", "compensation"]
Compensation = Literal["release_reservation", "void_payment", "refund_payment",
                       "cancel_shipment"]


class SagaPolicy(Value):
    mode: Literal["orchestration", "choreography"] = "orchestration"
    step_timeout_ms: int = Field(default=10_000, ge=1, le=3_600_000)
    max_retries: int = Field(default=3, ge=0, le=20)
    backoff_base_ms: int = Field(default=500, ge=1, le=60_000)
    backoff_cap_ms: int = Field(default=60_000, ge=1, le=3_600_000)


class OrderMessage(Message):
    context: ClassVar[str] = "order"
    order_id: Id

    @property
    def key(self) -> str:
        return self.order_id


# --- commands -----------------------------------------------------------------------------
class CreateOrder(OrderMessage):
    """What to buy, never at what price: prices and currency are the catalog's (ItemsReserved)."""
    type: Literal["CreateOrder"] = "CreateOrder"
    customer_id: Id
    account_id: Id
    items: Items
    shipping_address: Address
    payment_method: PaymentMethod = "account"
    card_ref: CardRef = None
    policy: SagaPolicy = SagaPolicy()

    _card_required = card_required("card_ref")


class UpdateOrderStatus(OrderMessage):
    """Manual moves only (e.g. Preparing → Shipped without a carrier); the saga drives the rest."""
    type: Literal["UpdateOrderStatus"] = "UpdateOrderStatus"
    status: OrderStatus
    reason: Reason


class CancelOrder(OrderMessage):
    type: Literal["CancelOrder"] = "CancelOrder"
    reason: Reason


class RequestReturn(OrderMessage):
    type: Literal["RequestReturn"] = "RequestReturn"
    reason: Reason


class StepDeadlinePassed(OrderMessage):
    """Sent by the runtime when `deadline` in the order state has passed; `now` is its clock."""
    type: Literal["StepDeadlinePassed"] = "StepDeadlinePassed"
    step: Step
    attempt: int = Field(ge=1)
    now: datetime


# --- events -------------------------------------------------------------------------------
class OrderEvent(OrderMessage):
    customer_id: Id


class OrderCreated(OrderEvent):
    """The seed's OrderCreated carries a total; here it comes with the reservation, at the
    catalog's prices (OrderProgressed with `completed="reservation"`)."""
    type: Literal["OrderCreated"] = "OrderCreated"
    account_id: Id
    items: Items
    shipping_address: Address
    payment_method: PaymentMethod
    card_ref: str | None = None
    policy: SagaPolicy
    status: OrderStatus = "Pending"
    step: Step
    deadline: datetime


class OrderProgressed(OrderEvent):
    """A saga step completed; `step` is the one now awaited (None: the order is done)."""
    type: Literal["OrderProgressed"] = "OrderProgressed"
    completed: Step
    status: OrderStatus
    step: Step | None
    deadline: datetime | None
    reservation_id: Id | None = None
    payment_id: Id | None = None
    transaction_id: Id | None = None
    shipment_id: Id | None = None
    tracking_number: str | None = None
    lines: Lines | None = None              # with the reservation: the items at catalog prices,
    total_amount: Amount | None = None      # what the order will be charged
    currency: Currency | None = None


class OrderConfirmed(OrderProgressed):
    """The last step of the flow is done (the label is made): paid, reserved, to be shipped.
    Carries the total at catalog prices, for whoever follows the order (the customer)."""
    type: Literal["OrderConfirmed"] = "OrderConfirmed"
    completed: Step = "shipment"
    status: OrderStatus = "Preparing"
    tracking_number: str


class OrderFailed(OrderEvent):
    """A step failed; `undo` lists the compensations now sent. With nothing to undo
    (OutOfStock) the status is final, otherwise the order becomes Cancelled once confirmed."""
    type: Literal["OrderFailed"] = "OrderFailed"
    status: Literal["OutOfStock", "PaymentFailed", "ShipmentFailed"]
    reason: Reason
    undo: tuple[Compensation, ...]
    deadline: datetime | None


class OrderCancelled(OrderEvent):
    type: Literal["OrderCancelled"] = "OrderCancelled"
    status: OrderStatus = "Cancelled"
    reason: Reason
    undo: tuple[Compensation, ...]
    deadline: datetime | None


class CompensationRequested(OrderEvent):
    """A reply landed after the order gave up on it (e.g. PaymentSucceeded after a cancel)."""
    type: Literal["CompensationRequested"] = "CompensationRequested"
    undo: tuple[Compensation, ...]
    reason: Reason
    deadline: datetime


class CompensationConfirmed(OrderEvent):
    type: Literal["CompensationConfirmed"] = "CompensationConfirmed"
    compensation: Compensation


class CompensationFailed(OrderEvent):
    type: Literal["CompensationFailed"] = "CompensationFailed"
    compensation: Compensation
    reason: Reason


class OrderStatusUpdated(OrderEvent):
    type: Literal["OrderStatusUpdated"] = "OrderStatusUpdated"
    from_status: OrderStatus
    status: OrderStatus
    reason: Reason


class OrderReturnRequested(OrderEvent):
    type: Literal["OrderReturnRequested"] = "OrderReturnRequested"
    status: OrderStatus = "ReturnRequested"
    reason: Reason
    payment_id: Id
    refund_id: Id
    deadline: datetime


class OrderReturned(OrderEvent):
    type: Literal["OrderReturned"] = "OrderReturned"
    status: OrderStatus = "Returned"
    refund_id: Id
    amount: Amount


class StepRetried(OrderEvent):
    """The awaited step timed out and is sent again. Carries what a stateless choreography
    needs to resend it: the items (reservation), the total (payment) and the outstanding
    compensations."""
    type: Literal["StepRetried"] = "StepRetried"
    step: Step
    attempt: int = Field(ge=2)
    deadline: datetime
    items: tuple[Item, ...] = ()
    total_amount: Amount | None = None
    currency: Currency | None = None
    undo: tuple[Compensation, ...] = ()


class OrderTransitionRejected(OrderMessage):
    type: Literal["OrderTransitionRejected"] = "OrderTransitionRejected"
    from_status: OrderStatus | None
    attempted: str = Field(min_length=1, max_length=100)
    reason: Reason
