"""Customer: profile, shipping addresses, active/suspended, and the order history, which is
built from the order context's events (routed here by their `customer_id`)."""

from datetime import datetime
from typing import Literal, assert_never

from orderstream.contracts.common import Address, Value
from orderstream.contracts.customer import (
    CustomerReactivated, CustomerRegistered, CustomerRejected, CustomerSuspended,
    OrderHistoryRecorded, ReactivateCustomer, RegisterCustomer, ShippingAddressUpdated,
    SuspendCustomer, UpdateShippingAddress)
from orderstream.contracts.envelope import Message, derive
from orderstream.contracts.order import (
    OrderCancelled, OrderConfirmed, OrderCreated, OrderFailed, OrderProgressed,
    OrderReturned, OrderReturnRequested, OrderStatusUpdated)
from orderstream.domain import Decider

ORDER_EVENTS = (OrderCreated, OrderProgressed, OrderConfirmed, OrderFailed, OrderCancelled,
                OrderStatusUpdated, OrderReturnRequested, OrderReturned)
OrderEvents = (OrderCreated | OrderProgressed | OrderConfirmed | OrderFailed | OrderCancelled
               | OrderStatusUpdated | OrderReturnRequested | OrderReturned)


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
                   | ReactivateCustomer | OrderEvents)
CustomerEvent = (CustomerRegistered | ShippingAddressUpdated | CustomerSuspended
                 | CustomerReactivated | CustomerRejected | OrderHistoryRecorded)


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
        case (OrderCreated() | OrderProgressed() | OrderConfirmed() | OrderFailed()
              | OrderCancelled() | OrderStatusUpdated() | OrderReturnRequested()
              | OrderReturned()):
            return _record(cmd)
        case _:
            assert_never(cmd)


def _record(event: OrderEvents) -> list[Message]:
    """The total arrives with the reservation, at catalog prices (OrderProgressed)."""
    return [derive(event, OrderHistoryRecorded, customer_id=event.customer_id,
                   order_id=event.order_id, status=event.status,
                   total_amount=getattr(event, "total_amount", None),
                   currency=getattr(event, "currency", None))]


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
        case OrderHistoryRecorded():
            return state.model_copy(update={"orders": {
                **state.orders, event.order_id: _summary(state, event)}})
        case _:
            return state


def _summary(state: Customer, event: OrderHistoryRecorded) -> OrderSummary:
    known = state.orders.get(event.order_id)
    if known is None:
        return OrderSummary(status=event.status, total_amount=event.total_amount,
                            currency=event.currency, placed_at=event.occurred_at,
                            updated_at=event.occurred_at)
    if event.occurred_at < known.updated_at:
        return known  # a late, older status must not overwrite a newer one
    return known.model_copy(update={"status": event.status, "updated_at": event.occurred_at,
                                    "total_amount": event.total_amount or known.total_amount,
                                    "currency": event.currency or known.currency})


customers = Decider[Customer](
    name="customers",
    commands=(RegisterCustomer, UpdateShippingAddress, SuspendCustomer, ReactivateCustomer,
              *ORDER_EVENTS),
    state=Customer, initial=lambda customer_id: Customer(customer_id=customer_id),
    decide=decide, evolve=evolve)

DECIDERS = (customers,)


def react(event: Message) -> list[Message]:
    return []
