"""Order HTTP API, the public face: place, follow, cancel and return orders; the audit trail."""

import asyncio
import time

from pydantic import Field

from orderstream.contracts.common import Address, Id, Items, Reason
from orderstream.contracts.order import CancelOrder, CreateOrder, RequestReturn, SagaPolicy
from orderstream.contracts.payment import CardToken, PaymentMethod, card_ref, card_required
from orderstream.order import audit, page, progress
from orderstream.runtime.web import Api, ApiError, Body, EventStream, Html, href, not_found
from orderstream.order.flow import CANCELLABLE, TERMINAL

api = Api("orderstream order API")
CATALOG_FIELDS = ("unit_price", "currency", "total_amount")
WAIT_PARAMS = [
    {"name": "wait_for", "in": "query", "required": False,
     "schema": {"type": "string", "description": "a status, 'settled' (no timed step or "
                "compensation in flight) or 'terminal'"}},
    {"name": "timeout", "in": "query", "required": False,
     "schema": {"type": "number", "minimum": 0, "maximum": 60}}]
LAST_EVENT_ID = [{"name": name, "in": where, "required": False,
                  "description": "resume after this event (the id of the last event received)",
                  "schema": {"type": "string", "maxLength": 100}}
                 for name, where in (("Last-Event-ID", "header"), ("last_event_id", "query"))]
KEEP_ALIVE_SECONDS = 15.0


class PlaceOrder(Body):
    """What to buy. Prices and the currency are the catalog's, captured when the stock is
    reserved: a request that names a price or a currency is refused (422)."""
    customer_id: Id
    account_id: Id
    items: Items = Field(description="1-100 lines of product_id and quantity")
    shipping_address: Address
    payment_method: PaymentMethod = "account"
    card_token: CardToken = None

    _card_required = card_required("card_token")

    def order(self) -> dict:
        """CreateOrder's fields: the card token is replaced by its reference here, before
        anything is written, and is never echoed back."""
        fields = self.model_dump(exclude={"card_token"})
        return fields | {"card_ref": card_ref(self.card_token) if self.card_token else None}


class ReasonBody(Body):
    reason: Reason


def policy() -> SagaPolicy:
    return SagaPolicy(mode=api.settings.saga_mode.value,
                      step_timeout_ms=int(api.settings.step_timeout_seconds * 1000),
                      max_retries=api.settings.step_max_retries,
                      backoff_base_ms=int(api.settings.retry_backoff_seconds * 1000))


def view(state) -> dict:
    body = state.model_dump(mode="json", exclude={"policy"})
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


def placed(order_id: str):
    state = api.system.state_of("orders", order_id)
    return state if state is not None and state.status is not None else None


async def order(order_id: str):
    """The order, read after every command accepted before this request: an order whose POST
    answered 202 a moment ago is found, an unknown id is a 404, and while the worker is still
    catching up on the order's partition the answer is 503 (retry), never a wrong 404."""
    if (state := placed(order_id)) is not None:
        return state
    if not await api.system.caught_up(order_id):
        raise ApiError(503, f"the order service is catching up; order {order_id!r} is not known "
                       "yet; retry", "order_id", "catching_up")
    if (state := placed(order_id)) is None:
        raise not_found("order", order_id)
    return state


@api.post("/orders", "Place an order (CreateOrder); Idempotency-Key makes a retry return the same order",
          body=PlaceOrder)
async def place(request):
    try:
        body = await api.body(request, PlaceOrder)
    except ApiError as error:
        if error.rule == "extra_forbidden" and (error.field or "").rsplit(".", 1)[-1] in CATALOG_FIELDS:
            raise ApiError(422, f"{error.field}: prices and the currency come from the catalog; "
                                "send product_id and quantity only", error.field, "set_by_catalog") from None
        raise
    order_id = api.edge_id(request, "order")
    command = api.command(CreateOrder, request, correlation_id=order_id, message_id=order_id,
                          order_id=order_id, policy=policy(), **body.order())
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
        return 200, view(await order(order_id))
    deadline = time.monotonic() + max(timeout, 0.0)
    while (left := deadline - time.monotonic()) > 0:
        changed = api.system.watch("orders", order_id)  # before reading: no change slips by
        try:
            state = placed(order_id)
            if state is not None and settled(state, wanted):
                return 200, view(state)
            await asyncio.wait_for(changed, left)
        except TimeoutError:
            break
        finally:
            api.system.unwatch("orders", order_id, changed)
    return 200, view(await order(order_id)) | {"waited": "timeout"}


@api.get("/orders/{order_id}/events", "The audit trail: every event of every context for this order",
         table="orders", key="order_id")
async def events(request, order_id: str):
    await order(order_id)
    return 200, {"order_id": order_id, "events": await audit.trail(api.settings, order_id)}


@api.get("/orders/{order_id}/view", "A page showing the order's timeline across contexts",
         returns="an HTML page", media="text/html", table="orders", key="order_id")
async def timeline(request, order_id: str):
    await order(order_id)
    return 200, Html(page.render(order_id, await audit.trail(api.settings, order_id)))


@api.get("/orders/{order_id}/stream", "The order's status changes and saga steps as they happen "
         "(Server-Sent Events: status, step, compensation; end at a terminal state); "
         "resumes after Last-Event-ID", returns="a text/event-stream", media="text/event-stream",
         table="orders", key="order_id", stream=True, query=LAST_EVENT_ID)
async def stream(request, order_id: str):
    given = request.headers.get("Last-Event-ID") or request.query.get("last_event_id") or "0.0.0"
    try:
        seen = progress.cursor(given)
    except ValueError:
        raise ApiError(422, "Last-Event-ID must be the id of an event of this stream",
                       "Last-Event-ID", "event_id") from None
    await order(order_id)
    return 200, EventStream(follow(order_id, seen))


async def follow(order_id: str, seen: progress.Cursor):
    """The entries after `seen`, then each as the order's row is written; `end` with the order
    once it is terminal and settled. Stops (the client reconnects) should the order move to
    another replica."""
    while True:
        changed = api.system.watch("orders", order_id)  # before reading: no change slips by
        try:
            state = placed(order_id)
            for seen, kind, data in progress.entries(state, seen):
                yield progress.entry_id(seen), kind, data
            if settled(state, "terminal"):
                yield progress.entry_id(seen), "end", view(state)
                return
            try:
                await asyncio.wait_for(changed, KEEP_ALIVE_SECONDS)
            except TimeoutError:
                if not owned(order_id):
                    return
                yield None
        finally:
            api.system.unwatch("orders", order_id, changed)


def owned(order_id: str) -> bool:
    """Is the order still this replica's? While nobody knows (a rebalance), keep it."""
    try:
        return api.owner("orders", order_id) is None
    except ApiError:
        return True


@api.post("/orders/{order_id}/cancel", "Cancel an order before it ships (compensates done steps)",
          body=ReasonBody, table="orders", key="order_id")
async def cancel(request, order_id: str):
    body = await api.body(request, ReasonBody)
    state = await order(order_id)
    if state.status not in CANCELLABLE | {"Cancelled"}:  # a repeat of a cancel is answered again
        raise ApiError(409, f"order {order_id} is {state.status}; it can no longer be cancelled",
                       "status", "cancellable")
    return await api.accept(api.command(CancelOrder, request, correlation_id=order_id,
                                        order_id=order_id, reason=body.reason), href("orders", order_id))


@api.post("/orders/{order_id}/return", "Request the return of a delivered order",
          body=ReasonBody, table="orders", key="order_id")
async def request_return(request, order_id: str):
    body = await api.body(request, ReasonBody)
    state = await order(order_id)
    if state.status not in ("Delivered", "ReturnRequested"):
        raise ApiError(409, f"order {order_id} is {state.status}; only a Delivered order can be returned",
                       "status", "returnable")
    return await api.accept(api.command(RequestReturn, request, correlation_id=order_id,
                                        order_id=order_id, reason=body.reason), href("orders", order_id))
