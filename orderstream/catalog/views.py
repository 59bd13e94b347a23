"""Catalog HTTP API: register products, set stock, check availability; products and reservations."""

from pydantic import Field, ValidationError

from orderstream.contracts.catalog import RegisterProduct, UpdateStock
from orderstream.contracts.common import Amount, Count, Currency, Id, Quantity, Text
from orderstream.contracts.ids import reservation_id_for
from orderstream.runtime.web import Api, Body, href, invalid, not_found

api = Api("orderstream catalog API")


class RegisterRequest(Body):
    product_id: Id
    sku: Text
    name: Text
    price: Amount = Field(description="integer minor units (cents)")
    currency: Currency
    on_hand: Count


class StockRequest(Body):
    quantity: Count = Field(description="free (unreserved) units on hand, absolute")


class AvailabilityQuery(Body):
    quantity: Quantity


QUANTITY = {"name": "quantity", "in": "query", "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 1_000_000}}


def location(product_id: str) -> str:
    return href("products", product_id)


def product(product_id: str) -> dict:
    state = api.state("products", product_id, "product")
    if not state["registered"]:
        raise not_found("product", product_id)
    return state


@api.post("/products", "Register a product", body=RegisterRequest)
async def register_product(request):
    body = await api.body(request, RegisterRequest)
    command = api.command(RegisterProduct, request, **body.model_dump())
    return await api.accept(command, location(body.product_id))


@api.post("/products/{product_id}/stock", "Set the free units on hand", body=StockRequest)
async def update_stock(request, product_id: str):
    body = await api.body(request, StockRequest)
    command = api.command(UpdateStock, request, product_id=product_id, quantity=body.quantity)
    return await api.accept(command, location(product_id))


@api.get("/products/{product_id}", "A product: price, units on hand, reserved and shipped",
         table="products", key="product_id")
async def get_product(request, product_id: str):
    return 200, product(product_id)


@api.get("/products/{product_id}/availability", "Whether `quantity` units are free now",
         table="products", key="product_id", query=[QUANTITY])
async def availability(request, product_id: str):
    try:
        query = AvailabilityQuery.model_validate(
            {name: request.query[name] for name in ("quantity",) if name in request.query})
    except ValidationError as error:
        raise invalid(error) from None
    available = product(product_id)["on_hand"]
    return 200, {"product_id": product_id, "requested": query.quantity, "available": available,
                 "ok": available >= query.quantity}


@api.get("/reservations/{order_id}", "The reservation of an order's items",
         table="reservations", key="order_id")
async def get_reservation(request, order_id: str):
    state = api.state("reservations", order_id, "reservation")
    return 200, {"reservation_id": reservation_id_for(order_id)} | state
