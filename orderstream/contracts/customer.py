"""Customer messages, keyed by customer id. The order history is fed by order events, which
carry `customer_id` for that purpose (the runtime routes them here by that field)."""

from typing import ClassVar, Literal

from pydantic import Field

from orderstream.contracts.common import Address, Id, Reason, Text
from orderstream.contracts.envelope import Message

Email = str  # validated by the pattern on the fields below; email-validator is not pinned
_EMAIL = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
Label = str
_LABEL = Field(pattern=r"^[a-z0-9_-]{1,30}$")


class CustomerMessage(Message):
    context: ClassVar[str] = "customer"
    customer_id: Id

    @property
    def key(self) -> str:
        return self.customer_id


class RegisterCustomer(CustomerMessage):
    type: Literal["RegisterCustomer"] = "RegisterCustomer"
    name: Text
    email: Email = _EMAIL


class UpdateShippingAddress(CustomerMessage):
    """Add or replace the address stored under `label` (e.g. "home")."""
    type: Literal["UpdateShippingAddress"] = "UpdateShippingAddress"
    label: Label = _LABEL
    address: Address


class SuspendCustomer(CustomerMessage):
    type: Literal["SuspendCustomer"] = "SuspendCustomer"
    reason: Reason


class ReactivateCustomer(CustomerMessage):
    type: Literal["ReactivateCustomer"] = "ReactivateCustomer"


class CustomerRegistered(CustomerMessage):
    type: Literal["CustomerRegistered"] = "CustomerRegistered"
    name: Text
    email: Email = _EMAIL


class ShippingAddressUpdated(CustomerMessage):
    type: Literal["ShippingAddressUpdated"] = "ShippingAddressUpdated"
    label: Label = _LABEL
    address: Address


class CustomerSuspended(CustomerMessage):
    type: Literal["CustomerSuspended"] = "CustomerSuspended"
    reason: Reason


class CustomerReactivated(CustomerMessage):
    type: Literal["CustomerReactivated"] = "CustomerReactivated"


class CustomerRejected(CustomerMessage):
    type: Literal["CustomerRejected"] = "CustomerRejected"
    command: Text
    reason: Reason

