"""Customer HTTP API: register, shipping addresses, suspend and reactivate; profile, order history."""

from orderstream.contracts.common import Address, Id, Reason, Text
from orderstream.contracts.customer import (_EMAIL, _LABEL, Email, Label, ReactivateCustomer,
                                            RegisterCustomer, SuspendCustomer,
                                            UpdateShippingAddress)
from orderstream.runtime.web import Api, Body, href, not_found

api = Api("orderstream customer API")


class RegisterRequest(Body):
    customer_id: Id
    name: Text
    email: Email = _EMAIL


class AddressRequest(Body):
    label: Label = _LABEL
    address: Address


class SuspendRequest(Body):
    reason: Reason


def location(customer_id: str) -> str:
    return href("customers", customer_id)


@api.post("/customers", "Register a customer", body=RegisterRequest)
async def register(request):
    body = await api.body(request, RegisterRequest)
    command = api.command(RegisterCustomer, request, **body.model_dump())
    return await api.accept(command, location(body.customer_id))


@api.post("/customers/{customer_id}/addresses", "Add or replace a shipping address by label",
          body=AddressRequest)
async def update_address(request, customer_id: str):
    body = await api.body(request, AddressRequest)
    command = api.command(UpdateShippingAddress, request, customer_id=customer_id,
                          label=body.label, address=body.address)
    return await api.accept(command, location(customer_id))


@api.post("/customers/{customer_id}/suspend", "Suspend a customer", body=SuspendRequest)
async def suspend(request, customer_id: str):
    body = await api.body(request, SuspendRequest)
    return await api.accept(api.command(SuspendCustomer, request, customer_id=customer_id,
                                        reason=body.reason), location(customer_id))


@api.post("/customers/{customer_id}/reactivate", "Reactivate a suspended customer")
async def reactivate(request, customer_id: str):
    return await api.accept(api.command(ReactivateCustomer, request, customer_id=customer_id),
                            location(customer_id))


@api.get("/customers/{customer_id}", "Profile, status and shipping addresses",
         table="customers", key="customer_id")
async def get_customer(request, customer_id: str):
    state = api.state("customers", customer_id, "customer")
    if not state["registered"]:
        raise not_found("customer", customer_id)
    return 200, state


@api.get("/customers/{customer_id}/orders", "The customer's order history",
         table="customers", key="customer_id")
async def get_orders(request, customer_id: str):
    orders = api.state("customers", customer_id, "customer")["orders"]
    return 200, {"customer_id": customer_id, "orders": [
        {"order_id": order_id, **summary} for order_id, summary in orders.items()]}
