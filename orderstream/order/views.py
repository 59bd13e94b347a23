"""Order HTTP API, the public face: place, follow, cancel and return orders; the audit trail."""

import asyncio
import time

from pydantic import Field

from orderstream.contracts.common import Address, Currency, Id, Lines, Reason
from orderstream.contracts.order import CancelOrder, CreateOrder, RequestReturn, SagaPolicy
from orderstream.contracts.payment import PaymentMethod
from orderstream.order import audit, page
from orderstream.order.app import system
from orderstream.runtime.web import Api, ApiError, Body, Html, href, not_found

api = Api(system, "orderstream order API")
settings = system.settings
TERMINAL = {"Delivered", "Cancelled", "OutOfStock", "PaymentFailed", "ShipmentFailed", "Returned"}
WAIT_PARAMS = [
    {"name": "wait_for", "in": "query", "required": False,
     "schema": {"type": "string", "description": "a status, 'settled' (no timed step or "
                "compensation in flight) or 'terminal'"}},
    {"name": "timeout", "in": "query", "required": False,
     "schema": {"type": "number", "minimum": 0, "maximum": 60}}]


class PlaceOrder(Body):
    customer_id: Id
    account_id: Id
    items: Lines = Field(description="1-100 lines; unit_price in integer minor units")
    currency: Currency
    shipping_address: Address
    payment_method: PaymentMethod = "account"
    card_token: str | None = Field(default=None, max_length=200)


class ReasonBody(Body):
    reason: Reason


def policy() -> SagaPolicy:
    return SagaPolicy(mode=settings.saga_mode.value,
                      step_timeout_ms=int(settings.step_timeout_seconds * 1000),
                      max_retries=settings.step_max_retries,
                      backoff_base_ms=int(settings.retry_backoff_seconds * 1000))


def view(state) -> dict:
    body = state.model_dump(mode="json", exclude={"card_token", "policy"})
    return body | {"settled": is_settled(state),
                   "saga_mode": state.policy.mode}


def is_settled(state) -> bool:
    """Nothing in flight: no timed step awaited (dispatch waits on the carrier) and no
    compensation outstanding."""
    return state.deadline is None and not state.undo


def settled(state, wanted: str) -> bool:
    done = is_settled(state)
    if wanted == "settled":
        return done
    if wanted == "terminal":
        return done and state.status in TERMINAL
    return state.status == wanted


def order(order_id: str):
    state = system.state_of("orders", order_id)
    if state is None or state.status is None:
        raise not_found("order", order_id)
    return state


@api.post("/orders", "Place an order (CreateOrder); Idempotency-Key makes a retry return the same order",
          body=PlaceOrder)
async def place(request):
    body = await api.body(request, PlaceOrder)
    order_id = api.edge_id(request, "order")
    command = api.command(CreateOrder, request, correlation_id=order_id, message_id=order_id,
                          order_id=order_id, policy=policy(), **body.model_dump())
    status, answer, headers = await api.accept(command, href("orders", order_id))
    return status, answer | {"order_id": order_id}, headers


@api.get("/orders/{order_id}", "An order: status, items, totals, saga step, reason, times",
         table="orders", key="order_id", query=WAIT_PARAMS)
async def get_order(request, order_id: str):
    wanted = request.query.get("wait_for")
    try:
        timeout = min(float(request.query.get("timeout", "30")), 60.0)
    except ValueError:
        raise ApiError(422, "timeout must be a number of seconds", "timeout", "number") from None
    if wanted is None:
        return 200, view(order(order_id))
    deadline = time.monotonic() + max(timeout, 0.0)
    while True:
        state = system.state_of("orders", order_id)
        if state is not None and state.status is not None and settled(state, wanted):
            return 200, view(state)
        if time.monotonic() >= deadline:
            if state is None or state.status is None:
                raise not_found("order", order_id)
            return 200, view(state) | {"waited": "timeout"}
        await asyncio.sleep(0.05)


@api.get("/orders/{order_id}/events", "The audit trail: every event of every context for this order")
async def events(request, order_id: str):
    return 200, {"order_id": order_id, "events": await audit.trail(settings, order_id)}


@api.get("/orders/{order_id}/view", "A page showing the order's timeline across contexts",
         returns="an HTML page", media="text/html")
async def timeline(request, order_id: str):
    return 200, Html(page.render(order_id, await audit.trail(settings, order_id)))


@api.post("/orders/{order_id}/cancel", "Cancel an order before it ships (compensates done steps)",
          body=ReasonBody, table="orders", key="order_id")
async def cancel(request, order_id: str):
    body = await api.body(request, ReasonBody)
    state = order(order_id)
    if state.status in TERMINAL | {"Shipped", "ReturnRequested"}:
        raise ApiError(409, f"order {order_id} is {state.status}; it can no longer be cancelled",
                       "status", "cancellable")
    return await api.accept(api.command(CancelOrder, request, correlation_id=order_id,
                                        order_id=order_id, reason=body.reason), href("orders", order_id))


@api.post("/orders/{order_id}/return", "Request the return of a delivered order",
          body=ReasonBody, table="orders", key="order_id")
async def request_return(request, order_id: str):
    body = await api.body(request, ReasonBody)
    state = order(order_id)
    if state.status != "Delivered":
        raise ApiError(409, f"order {order_id} is {state.status}; only a Delivered order can be returned",
                       "status", "returnable")
    return await api.accept(api.command(RequestReturn, request, correlation_id=order_id,
                                        order_id=order_id, reason=body.reason), href("orders", order_id))
