"""Customer: profile, shipping addresses, active/suspended, and the order history.

The history is a read model of the order context's events (routed here by their `customer_id`):
each is folded straight into the customer's state, appending no event of its own — the order's
events are the record. The customer shows its latest RECENT orders; order.events has them all.
"""

from datetime import datetime
from typing import Literal, assert_never

from orderstream.contracts.common import Address, Value
from orderstream.contracts.customer import (
    CustomerReactivated, CustomerRegistered, CustomerRejected, CustomerSuspended,
    ReactivateCustomer, RegisterCustomer, ShippingAddressUpdated, SuspendCustomer,
    UpdateShippingAddress)
from orderstream.contracts.envelope import Message, derive
from orderstream.contracts.order import (
    OrderCancelled, OrderConfirmed, OrderCreated, OrderFailed, OrderReturned,
    OrderReturnRequested, OrderStatusUpdated)
from orderstream.domain import Decider

ORDER_EVENTS = (OrderCreated, OrderConfirmed, OrderFailed, OrderCancelled, OrderStatusUpdated,
                OrderReturnRequested, OrderReturned)
OrderEvents = (OrderCreated | OrderConfirmed | OrderFailed | OrderCancelled | OrderStatusUpdated
               | OrderReturnRequested | OrderReturned)
RECENT = 100


class OrderSummary(Value):
    status: str
    total_amount: int | None = None
    currency: str | None = None
    placed_at: datetime
    updated_at: datetime


class Customer(Value):
    customer_id: str
    registered: bool = False
    name: str = ""
    email: str = ""
    status: Literal["active", "suspended"] = "active"
    suspension_reason: str = ""
    addresses: dict[str, Address] = {}
    orders: dict[str, OrderSummary] = {}


CustomerCommand = (RegisterCustomer | UpdateShippingAddress | SuspendCustomer
                   | ReactivateCustomer)
CustomerEvent = (CustomerRegistered | ShippingAddressUpdated | CustomerSuspended
                 | CustomerReactivated | CustomerRejected | OrderEvents)


def decide(cmd: CustomerCommand, state: Customer) -> list[Message]:
    match cmd:
        case RegisterCustomer():
            if state.registered and (state.name, state.email) != (cmd.name, cmd.email):
                return [_rejected(cmd, "customer already registered with other details")]
            return [derive(cmd, CustomerRegistered, customer_id=cmd.customer_id,
                           name=cmd.name, email=cmd.email)]
        case UpdateShippingAddress():
            if not state.registered:
                return [_rejected(cmd, "no such customer")]
            return [derive(cmd, ShippingAddressUpdated, customer_id=cmd.customer_id,
                           label=cmd.label, address=cmd.address)]
        case SuspendCustomer():
            if not state.registered:
                return [_rejected(cmd, "no such customer")]
            return [derive(cmd, CustomerSuspended, customer_id=cmd.customer_id,
                           reason=cmd.reason)]
        case ReactivateCustomer():
            if not state.registered:
                return [_rejected(cmd, "no such customer")]
            return [derive(cmd, CustomerReactivated, customer_id=cmd.customer_id)]
        case _:
            assert_never(cmd)


def _rejected(cmd: Message, reason: str) -> CustomerRejected:
    return derive(cmd, CustomerRejected, customer_id=cmd.key, command=cmd.type, reason=reason)


def evolve(state: Customer, event: CustomerEvent) -> Customer:
    match event:
        case CustomerRegistered() if not state.registered:
            return state.model_copy(update={"registered": True, "name": event.name,
                                            "email": event.email})
        case ShippingAddressUpdated():
            return state.model_copy(update={"addresses": {**state.addresses,
                                                          event.label: event.address}})
        case CustomerSuspended():
            return state.model_copy(update={"status": "suspended",
                                            "suspension_reason": event.reason})
        case CustomerReactivated():
            return state.model_copy(update={"status": "active", "suspension_reason": ""})
        case (OrderCreated() | OrderConfirmed() | OrderFailed() | OrderCancelled()
              | OrderStatusUpdated() | OrderReturnRequested() | OrderReturned()):
            return _record(state, event)
        case CustomerRegistered() | CustomerRejected():
            return state  # already applied, or nothing to change
        case _:
            assert_never(event)


def _record(state: Customer, event: OrderEvents) -> Customer:
    """The order's latest status; its total once confirmed (catalog prices, OrderConfirmed)."""
    known = state.orders.get(event.order_id)
    total, currency = getattr(event, "total_amount", None), getattr(event, "currency", None)
    if known is None and isinstance(event, OrderCreated):
        summary = OrderSummary(status=event.status, placed_at=event.occurred_at,
                               updated_at=event.occurred_at)
        return state.model_copy(update={"orders": dict(list(
            {**state.orders, event.order_id: summary}.items())[-RECENT:])})
    if known is None or event.occurred_at < known.updated_at:
        return state  # an order no longer among the latest, or a late, older status
    summary = known.model_copy(update={"status": event.status, "updated_at": event.occurred_at,
                                       "total_amount": total or known.total_amount,
                                       "currency": currency or known.currency})
    return state.model_copy(update={"orders": {**state.orders, event.order_id: summary}})


customers = Decider[Customer](
    name="customers",
    commands=(RegisterCustomer, UpdateShippingAddress, SuspendCustomer, ReactivateCustomer,
              *ORDER_EVENTS),
    state=Customer, initial=lambda customer_id: Customer(customer_id=customer_id),
    decide=decide, evolve=evolve, folds=ORDER_EVENTS)

DECIDERS = (customers,)
