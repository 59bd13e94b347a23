"""Catalog messages: products (keyed by product id) and reservations (keyed by order id).

A reservation is the all-or-nothing hold of every line of one order. The `reservations`
aggregate fans an order's request out to the `products` aggregates and collects their answers.
"""

from typing import ClassVar, Literal

from orderstream.contracts.common import (Amount, Count, Currency, Id, Item, Items, Lines,
                                          PositiveAmount, Quantity, Reason, Text)
from orderstream.contracts.envelope import Message


class ProductMessage(Message):
    context: ClassVar[str] = "catalog"
    product_id: Id

    @property
    def key(self) -> str:
        return self.product_id


class ReservationMessage(Message):
    context: ClassVar[str] = "catalog"
    order_id: Id

    @property
    def key(self) -> str:
        return self.order_id


# --- products: commands -------------------------------------------------------------------
class RegisterProduct(ProductMessage):
    type: Literal["RegisterProduct"] = "RegisterProduct"
    sku: Text
    name: Text
    price: PositiveAmount
    currency: Currency
    on_hand: Count


class UpdateStock(ProductMessage):
    """Set the free (unreserved) units on hand to `quantity`: absolute, so a repeat is harmless."""
    type: Literal["UpdateStock"] = "UpdateStock"
    quantity: Count


class CheckStock(ProductMessage):
    type: Literal["CheckStock"] = "CheckStock"
    order_id: Id
    quantity: Quantity


class ReserveProduct(ProductMessage):
    type: Literal["ReserveProduct"] = "ReserveProduct"
    order_id: Id
    quantity: Quantity


class ReleaseProduct(ProductMessage):
    type: Literal["ReleaseProduct"] = "ReleaseProduct"
    order_id: Id


class CommitProduct(ProductMessage):
    type: Literal["CommitProduct"] = "CommitProduct"
    order_id: Id


class RestockProduct(ProductMessage):
    type: Literal["RestockProduct"] = "RestockProduct"
    order_id: Id


# --- products: events ---------------------------------------------------------------------
class ProductRegistered(ProductMessage):
    type: Literal["ProductRegistered"] = "ProductRegistered"
    sku: Text
    name: Text
    price: Amount
    currency: Currency
    on_hand: Count


class StockUpdated(ProductMessage):
    type: Literal["StockUpdated"] = "StockUpdated"
    on_hand: Count
    delta: int


class StockChecked(ProductMessage):
    type: Literal["StockChecked"] = "StockChecked"
    order_id: Id
    requested_qty: Quantity
    available_qty: Count


class ProductReserved(ProductMessage):
    """The price is the product's when it was reserved: what the order is charged."""
    type: Literal["ProductReserved"] = "ProductReserved"
    order_id: Id
    quantity: Quantity
    unit_price: Amount
    currency: Currency


class ProductUnavailable(ProductMessage):
    type: Literal["ProductUnavailable"] = "ProductUnavailable"
    order_id: Id
    requested_qty: Quantity
    available_qty: Count


class ProductReleased(ProductMessage):
    """quantity 0: nothing was held; the order is remembered so a late reserve is refused."""
    type: Literal["ProductReleased"] = "ProductReleased"
    order_id: Id
    quantity: Count


class ProductCommitted(ProductMessage):
    type: Literal["ProductCommitted"] = "ProductCommitted"
    order_id: Id
    quantity: Quantity


class ProductRestocked(ProductMessage):
    """Returned goods back on the shelf: shipped units become free units again."""
    type: Literal["ProductRestocked"] = "ProductRestocked"
    order_id: Id
    quantity: Quantity


class ProductRejected(ProductMessage):
    type: Literal["ProductRejected"] = "ProductRejected"
    command: Text
    reason: Reason
    order_id: Id | None = None


# --- reservations: commands ---------------------------------------------------------------
class CheckAvailability(ReservationMessage):
    """Seed `CheckAvailability(productId, quantity)`, asked for all lines of an order at once."""
    type: Literal["CheckAvailability"] = "CheckAvailability"
    items: Items


class ReserveItems(ReservationMessage):
    type: Literal["ReserveItems"] = "ReserveItems"
    items: Items


class ReleaseReservation(ReservationMessage):
    type: Literal["ReleaseReservation"] = "ReleaseReservation"
    reason: Reason


class CommitReservation(ReservationMessage):
    """The goods left the warehouse: held units become shipped units."""
    type: Literal["CommitReservation"] = "CommitReservation"


class RestockItems(ReservationMessage):
    """The order was returned: its shipped units go back on the shelf."""
    type: Literal["RestockItems"] = "RestockItems"
    reason: Reason


# --- reservations: events -----------------------------------------------------------------
class AvailabilityCheckStarted(ReservationMessage):
    type: Literal["AvailabilityCheckStarted"] = "AvailabilityCheckStarted"
    items: Items


class LineChecked(ReservationMessage):
    type: Literal["LineChecked"] = "LineChecked"
    product_id: Id


class ItemsAvailable(ReservationMessage):
    type: Literal["ItemsAvailable"] = "ItemsAvailable"
    items: Items


class ItemsUnavailable(ReservationMessage):
    """stage "check": found by CheckAvailability; "reserve": ReserveItems failed and every
    line of the order is being released."""
    type: Literal["ItemsUnavailable"] = "ItemsUnavailable"
    product_id: Id
    requested_qty: Quantity
    available_qty: Count
    stage: Literal["check", "reserve"]
    items: Items
    reason: Reason | None = None  # other than a shortage, e.g. a line priced in another currency


class ReservationStarted(ReservationMessage):
    type: Literal["ReservationStarted"] = "ReservationStarted"
    reservation_id: Id
    items: Items


class LineReserved(ReservationMessage):
    type: Literal["LineReserved"] = "LineReserved"
    product_id: Id
    unit_price: Amount
    currency: Currency


class ItemsReserved(ReservationMessage):
    """Every line held, at the catalog's prices: the order's total and currency."""
    type: Literal["ItemsReserved"] = "ItemsReserved"
    reservation_id: Id
    items: Lines
    total_amount: PositiveAmount
    currency: Currency


class ReservationReleased(ReservationMessage):
    """items empty: released before anything was reserved (a late ReserveItems is refused)."""
    type: Literal["ReservationReleased"] = "ReservationReleased"
    reservation_id: Id
    items: tuple[Item, ...]
    reason: Reason


class ReservationCommitted(ReservationMessage):
    type: Literal["ReservationCommitted"] = "ReservationCommitted"
    reservation_id: Id
    items: Items


class ItemsRestocked(ReservationMessage):
    type: Literal["ItemsRestocked"] = "ItemsRestocked"
    reservation_id: Id
    items: Items
    reason: Reason


class ReservationRejected(ReservationMessage):
    type: Literal["ReservationRejected"] = "ReservationRejected"
    command: Text
    reason: Reason
