"""Catalog: products hold stock; a reservation holds every line of one order, or none.

Stock of a product = on_hand (free) + reserved (held for orders) + shipped (committed).
A product remembers, per order, what it did (a hold), so a repeated or late request gets the
original answer and never a second effect. A release for an unknown order leaves a released
hold behind: a reserve that arrives after its own release is refused.
"""

from typing import Literal, assert_never

from orderstream.contracts.catalog import (
    CheckStock, CommitProduct, ProductCommitted, ProductRegistered, ProductRejected,
    ProductReleased, ProductReserved, ProductRestocked, ProductUnavailable, RegisterProduct,
    ReleaseProduct, ReserveProduct, RestockProduct, StockChecked, StockUpdated, UpdateStock)
from orderstream.contracts.common import Value
from orderstream.contracts.envelope import Message, derive
from orderstream.catalog.reservation import reservations
from orderstream.domain import Decider, Entries


class Hold(Value):
    quantity: int
    status: Literal["reserved", "unavailable", "released", "committed", "restocked"]
    available_qty: int = 0
    unit_price: int = 0       # the price the order was reserved at


class Product(Value):
    product_id: str
    registered: bool = False
    sku: str = ""
    name: str = ""
    price: int = 0
    currency: str = ""
    on_hand: int = 0
    reserved: int = 0
    shipped: int = 0
    holds: dict[str, Hold] = {}

    def with_hold(self, order_id: str, hold: Hold, **counts: int) -> "Product":
        return self.model_copy(update={"holds": {**self.holds, order_id: hold}, **counts})


ProductCommand = (RegisterProduct | UpdateStock | CheckStock | ReserveProduct | ReleaseProduct
                  | CommitProduct | RestockProduct)
ProductEvent = (ProductRegistered | StockUpdated | StockChecked | ProductReserved
                | ProductUnavailable | ProductReleased | ProductCommitted | ProductRestocked
                | ProductRejected)


def decide_product(cmd: ProductCommand, state: Product) -> list[Message]:
    match cmd:
        case RegisterProduct():
            return _register(cmd, state)
        case UpdateStock():
            if not state.registered:
                return [_product_rejected(cmd, "unknown product")]
            return [derive(cmd, StockUpdated, product_id=cmd.product_id, on_hand=cmd.quantity,
                           delta=cmd.quantity - state.on_hand)]
        case CheckStock():
            return [derive(cmd, StockChecked, product_id=cmd.product_id, order_id=cmd.order_id,
                           requested_qty=cmd.quantity, available_qty=state.on_hand)]
        case ReserveProduct():
            return _reserve(cmd, state)
        case ReleaseProduct():
            hold = state.holds.get(cmd.order_id)
            held = hold.quantity if hold and hold.status in ("reserved", "released") else 0
            if hold and hold.status == "committed":
                return [_product_rejected(cmd, "already committed: the goods have shipped")]
            return [derive(cmd, ProductReleased, product_id=cmd.product_id,
                           order_id=cmd.order_id, quantity=held)]
        case CommitProduct():
            hold = state.holds.get(cmd.order_id)
            if not hold or hold.status not in ("reserved", "committed"):
                return [_product_rejected(cmd, "nothing reserved for this order")]
            return [derive(cmd, ProductCommitted, product_id=cmd.product_id,
                           order_id=cmd.order_id, quantity=hold.quantity)]
        case RestockProduct():
            hold = state.holds.get(cmd.order_id)
            if not hold or hold.status not in ("committed", "restocked"):
                return [_product_rejected(cmd, "nothing shipped for this order to restock")]
            return [derive(cmd, ProductRestocked, product_id=cmd.product_id,
                           order_id=cmd.order_id, quantity=hold.quantity)]
        case _:
            assert_never(cmd)


_DETAILS = {"sku", "name", "price", "currency"}


def _register(cmd: RegisterProduct, state: Product) -> list[Message]:
    details = cmd.model_dump(include=_DETAILS)
    if state.registered and state.model_dump(include=_DETAILS) != details:
        return [_product_rejected(cmd, "product already registered with other details")]
    on_hand = state.on_hand if state.registered else cmd.on_hand
    return [derive(cmd, ProductRegistered, product_id=cmd.product_id, on_hand=on_hand,
                   **details)]


def _reserve(cmd: ReserveProduct, state: Product) -> list[Message]:
    hold = state.holds.get(cmd.order_id)
    if hold is None and state.on_hand >= cmd.quantity and state.registered:
        return [derive(cmd, ProductReserved, product_id=cmd.product_id, order_id=cmd.order_id,
                       quantity=cmd.quantity, unit_price=state.price, currency=state.currency)]
    if hold is None:
        return [derive(cmd, ProductUnavailable, product_id=cmd.product_id,
                       order_id=cmd.order_id, requested_qty=cmd.quantity,
                       available_qty=state.on_hand if state.registered else 0)]
    if hold.status == "unavailable":
        return [derive(cmd, ProductUnavailable, product_id=cmd.product_id,
                       order_id=cmd.order_id, requested_qty=hold.quantity,
                       available_qty=hold.available_qty)]
    if hold.quantity == 0:  # released before it was reserved: refuse silently
        return []
    return [derive(cmd, ProductReserved, product_id=cmd.product_id, order_id=cmd.order_id,
                   quantity=hold.quantity, unit_price=hold.unit_price, currency=state.currency)]


def _product_rejected(cmd: ProductCommand, reason: str) -> ProductRejected:
    return derive(cmd, ProductRejected, product_id=cmd.product_id, command=cmd.type,
                  reason=reason, order_id=getattr(cmd, "order_id", None))


def evolve_product(state: Product, event: ProductEvent) -> Product:
    hold = state.holds.get(getattr(event, "order_id", None) or "")
    match event:
        case ProductRegistered() if not state.registered:
            return state.model_copy(update=event.model_dump(
                include={"sku", "name", "price", "currency", "on_hand"}) | {"registered": True})
        case StockUpdated():
            return state.model_copy(update={"on_hand": event.on_hand})
        case ProductReserved() if hold is None:
            return state.with_hold(event.order_id, Hold(quantity=event.quantity, status="reserved",
                                                        unit_price=event.unit_price),
                                   on_hand=state.on_hand - event.quantity,
                                   reserved=state.reserved + event.quantity)
        case ProductUnavailable() if hold is None:
            return state.with_hold(event.order_id, Hold(
                quantity=event.requested_qty, status="unavailable",
                available_qty=event.available_qty))
        case ProductReleased() if hold is None:
            return state.with_hold(event.order_id, Hold(quantity=0, status="released"))
        case ProductReleased() if hold.status == "reserved":
            return state.with_hold(event.order_id, hold.model_copy(update={"status": "released"}),
                                   on_hand=state.on_hand + hold.quantity,
                                   reserved=state.reserved - hold.quantity)
        case ProductCommitted() if hold is not None and hold.status == "reserved":
            return state.with_hold(event.order_id,
                                   hold.model_copy(update={"status": "committed"}),
                                   reserved=state.reserved - hold.quantity,
                                   shipped=state.shipped + hold.quantity)
        case ProductRestocked() if hold is not None and hold.status == "committed":
            return state.with_hold(event.order_id,
                                   hold.model_copy(update={"status": "restocked"}),
                                   shipped=state.shipped - hold.quantity,
                                   on_hand=state.on_hand + hold.quantity)
        case ProductRegistered() | StockUpdated() | StockChecked() | ProductReserved() \
                | ProductUnavailable() | ProductReleased() | ProductCommitted() | ProductRestocked() \
                | ProductRejected():
            return state  # already applied, or nothing to change
        case _:
            assert_never(event)


products = Decider[Product](
    name="products",
    commands=(RegisterProduct, UpdateStock, CheckStock, ReserveProduct, ReleaseProduct,
              CommitProduct, RestockProduct),
    state=Product, initial=lambda product_id: Product(product_id=product_id),
    decide=decide_product, evolve=evolve_product,
    entries=Entries("holds", key=lambda message: getattr(message, "order_id", None)))


DECIDERS = (products, reservations)
