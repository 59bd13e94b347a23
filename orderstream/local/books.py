"""The books the audit keeps while it reads the event logs: one per account, payment, product
and order, folded from their own events.

Each book is folded in its aggregate's own order (one key, one partition); the books of
different aggregates may be fed in any interleaving. A repeated outcome (a redelivery, a replayed
topic, a retried step) names the same business id as the original (transaction, credit, refund,
hold) and books nothing twice; a new id for an old obligation is booked, and is what the checks
catch. Money and stock are recomputed here from the account, payment and catalog events
independently of the deciders; an order's status is its own fold (order/state.py), the claim the
books are held against. Anything a fold meets that its context should never have emitted is
noted as an anomaly, with its evidence.
"""

from dataclasses import dataclass, field

from orderstream.contracts.account import AccountCredited, AccountDebited, AccountOpened
from orderstream.contracts.catalog import (ProductCommitted, ProductRegistered, ProductReleased,
                                           ProductReserved, ProductRestocked, ProductUnavailable,
                                           StockUpdated)
from orderstream.contracts.envelope import Message
from orderstream.contracts.order import OrderConfirmed, OrderMessage
from orderstream.contracts.payment import (PaymentCapturedAfterVoid, PaymentRefunded,
                                           PaymentStarted, PaymentSucceeded, PaymentVoided)
from orderstream.contracts.shipment import ShipmentDispatched
from orderstream.order.state import Order, evolve


@dataclass
class Anomaly:
    check: str
    subject: str
    evidence: str


@dataclass
class AccountBook:
    account_id: str
    balance: int = 0
    lowest: int = 0
    topped_up: int = 0
    debits: dict[str, dict[str, int]] = field(default_factory=dict)   # payment -> txn -> amount
    refunds: dict[str, dict[str, int]] = field(default_factory=dict)  # payment -> credit -> amount
    reported: dict[str, int] = field(default_factory=dict)            # txn -> its new_balance

    def add(self, event: Message, note) -> None:
        match event:
            case AccountDebited():
                self._book(event, -event.amount, self.debits.setdefault(event.payment_id, {}),
                           event.transaction_id, note)
            case AccountCredited() if event.payment_id:
                self._book(event, event.amount, self.refunds.setdefault(event.payment_id, {}),
                           event.credit_id, note)
            case AccountCredited():
                self._book(event, event.amount, {}, event.credit_id, note, top_up=True)

    def _book(self, event, change: int, into: dict[str, int], ref: str, note,
              top_up: bool = False) -> None:
        if event.transaction_id in self.reported:  # an outcome restated
            if self.reported[event.transaction_id] != event.new_balance:
                note("account-balance", self.account_id, f"{event.type} {event.transaction_id} "
                     f"restated with balance {event.new_balance}, first said "
                     f"{self.reported[event.transaction_id]}")
            return
        self.balance += change
        self.lowest = min(self.lowest, self.balance)
        self.reported[event.transaction_id] = event.new_balance
        into[ref] = abs(change)
        self.topped_up += change if top_up else 0
        if event.new_balance != self.balance:
            note("account-balance", self.account_id, f"{event.type} {event.transaction_id} says "
                 f"balance {event.new_balance}; credits - debits + refunds = {self.balance}")

    @property
    def debited(self) -> int:
        return sum(sum(txns.values()) for txns in self.debits.values())

    @property
    def refunded(self) -> int:
        return sum(sum(credits.values()) for credits in self.refunds.values())


@dataclass
class PaymentBook:
    payment_id: str
    order_id: str = ""
    method: str = ""
    amount: int = 0
    captures: dict[str, int] = field(default_factory=dict)    # card: transaction -> amount
    refunds: dict[str, int] = field(default_factory=dict)     # refund id -> amount
    reversed: int = 0                                          # given back by a void

    def add(self, event: Message, note) -> None:
        self.order_id = getattr(event, "order_id", "") or self.order_id
        match event:
            case PaymentStarted():
                self.method, self.amount = event.payment_method, event.amount
            case PaymentSucceeded() | PaymentCapturedAfterVoid():
                self.captures.setdefault(event.transaction_id, event.amount)
            case PaymentVoided() if event.reversed_amount:
                self.captures.setdefault(event.transaction_id or "void", event.reversed_amount)
                self.reversed = event.reversed_amount
            case PaymentRefunded():
                self.refunds.setdefault(event.refund_id, event.amount)


@dataclass
class Hold:
    quantity: int
    status: str
    unit_price: int = 0


RESTATES = {  # (event, hold status) pairs a product answers again without a new effect
    "ProductReserved": {"reserved", "released", "committed", "restocked"},
    "ProductReleased": {"released", "unavailable", "restocked"},
    "ProductCommitted": {"committed"},
    "ProductRestocked": {"restocked"},
}


@dataclass
class ProductBook:
    product_id: str
    registered: int | None = None
    price: int = 0
    currency: str = ""
    on_hand: int = 0
    reserved: int = 0
    shipped: int = 0
    adjusted: int = 0          # units added (or removed) by UpdateStock
    restocked: int = 0         # units that came back with returns
    released: int = 0
    holds: dict[str, Hold] = field(default_factory=dict)  # by order id

    def add(self, event: Message, note) -> None:
        hold = self.holds.get(getattr(event, "order_id", "") or "")
        match event:
            case ProductRegistered() if self.registered is None:
                self.registered, self.on_hand = event.on_hand, event.on_hand
                self.price, self.currency = event.price, event.currency
            case StockUpdated():
                self._stock_updated(event, note)
            case ProductUnavailable() if hold is None:
                self._claims(event, event.available_qty, note)
                self.holds[event.order_id] = Hold(event.requested_qty, "unavailable")
            case ProductReserved() if hold is None:
                self._reserved(event, note)
            case ProductReleased() if hold is None:
                self.holds[event.order_id] = Hold(0, "released")
            case ProductReleased() if hold.status == "reserved":
                self._move(hold, "released", on_hand=hold.quantity, reserved=-hold.quantity)
                self.released += hold.quantity
            case ProductCommitted() if hold is not None and hold.status == "reserved":
                self._move(hold, "committed", reserved=-hold.quantity, shipped=hold.quantity)
            case ProductRestocked() if hold is not None and hold.status == "committed":
                self._move(hold, "restocked", shipped=-hold.quantity, on_hand=hold.quantity)
                self.restocked += hold.quantity
            case ProductReserved() | ProductReleased() | ProductCommitted() | ProductRestocked():
                if hold is None or hold.status not in RESTATES[event.type]:
                    note("stock-transition", self.product_id, f"{event.type} for order "
                         f"{event.order_id} whose hold is {hold.status if hold else 'absent'}")

    def _stock_updated(self, event: StockUpdated, note) -> None:
        delta = event.on_hand - self.on_hand
        if event.delta != delta:
            note("stock-books", self.product_id, f"StockUpdated to {event.on_hand} says delta "
                 f"{event.delta}; the catalog's events left {self.on_hand} on hand (delta {delta})")
        self.on_hand, self.adjusted = event.on_hand, self.adjusted + delta

    def _reserved(self, event: ProductReserved, note) -> None:
        if event.quantity > self.on_hand:
            note("stock-oversold", self.product_id, f"reserved {event.quantity} for order "
                 f"{event.order_id} with {self.on_hand} on hand")
        if event.unit_price != self.price:
            note("price", self.product_id, f"reserved for order {event.order_id} at "
                 f"{event.unit_price}, the catalog price is {self.price}")
        self.holds[event.order_id] = Hold(event.quantity, "reserved", event.unit_price)
        self.on_hand -= event.quantity
        self.reserved += event.quantity

    def _claims(self, event: Message, available: int, note) -> None:
        if available != self.on_hand:
            note("stock-books", self.product_id, f"{event.type} for order "
                 f"{getattr(event, 'order_id', '-')} says {available} on hand; the catalog's "
                 f"events left {self.on_hand}")

    def _move(self, hold: Hold, status: str, **counts: int) -> None:
        hold.status = status
        for name, change in counts.items():
            setattr(self, name, getattr(self, name) + change)

    @property
    def expected(self) -> int:
        """What on_hand + reserved + shipped must be: registered, plus stock updates."""
        return (self.registered or 0) + self.adjusted


@dataclass
class Books:
    """Everything read so far. `add` takes one event of any context."""

    accounts: dict[str, AccountBook] = field(default_factory=dict)
    payments: dict[str, PaymentBook] = field(default_factory=dict)
    products: dict[str, ProductBook] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    confirmed_totals: dict[str, set[int]] = field(default_factory=dict)
    dispatched: set[str] = field(default_factory=set)  # orders whose goods have left
    anomalies: list[Anomaly] = field(default_factory=list)
    opened: set[str] = field(default_factory=set)
    events: int = 0

    def note(self, check: str, subject: str, evidence: str) -> None:
        self.anomalies.append(Anomaly(check, subject, evidence))

    def add(self, event: Message) -> None:
        self.events += 1
        match event.context:
            case "account":
                if isinstance(event, AccountOpened):
                    self.opened.add(event.account_id)
                self._book(self.accounts, event.key, AccountBook).add(event, self.note)
            case "payment":
                self._book(self.payments, event.key, PaymentBook).add(event, self.note)
            case "catalog" if hasattr(event, "product_id") and event.key == event.product_id:
                self._book(self.products, event.key, ProductBook).add(event, self.note)
            case "order" if isinstance(event, OrderMessage):
                self._order(event)
            case "shipment" if isinstance(event, ShipmentDispatched):
                self.dispatched.add(event.order_id)

    def _order(self, event: OrderMessage) -> None:
        state = self.orders.get(event.order_id) or Order(order_id=event.order_id)
        self.orders[event.order_id] = evolve(state, event)
        if isinstance(event, OrderConfirmed):
            self.confirmed_totals.setdefault(event.order_id, set()).add(event.total_amount or 0)

    @staticmethod
    def _book(books: dict, key: str, kind):  # type: ignore[no-untyped-def]
        if key not in books:
            books[key] = kind(key)
        return books[key]

    def holds_of(self, order_id: str) -> dict[str, Hold]:
        return {p.product_id: p.holds[order_id] for p in self.products.values()
                if order_id in p.holds}
