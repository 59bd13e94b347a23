"""`orderstream audit`: the invariants a run must keep however it went — through crashes,
replays, rebalances and outages — checked from the outside, on its event logs.

`audit(events, ...)` is pure: the events of every context (each aggregate's in its own order),
the dead letters, the poison that was injected, and optionally the gateway's books and the
workers' current rows, in; violations and totals out. eventlog.py reads them from Kafka.

- every accepted order (OrderCreated) is settled: nothing in flight, or (`settled=False`, a
  live system) not stuck past its deadline and retries;
- each payment is captured at most once; an order that ended cancelled, failed or returned kept
  no money (captured - refunded = 0, on the account and payment events, and at the gateway);
  one that ended cancelled or failed had no shipment dispatched (the customer kept no goods);
  a confirmed order was charged its total at the catalog's prices;
- each account: balance = credits - debits + refunds, as every event reported it, never < 0;
- each product: on_hand + reserved + shipped = registered + stock updates; no order holds stock
  it should not (reserved by an order that ended without shipping, shipped for one that never
  shipped);
- every dead letter is accounted for: injected poison (header `x-chaos-poison`) is expected and
  must have been parked; anything else parked is a violation.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from orderstream.contracts.envelope import Message
from orderstream.contracts.ids import payment_id_for, shipment_id_for
from orderstream.local.books import Books, Hold
from orderstream.order.state import Order

POISON_HEADER = "x-chaos-poison"
ENDED_EMPTY = frozenset({"Cancelled", "OutOfStock", "PaymentFailed", "ShipmentFailed"})
ENDED_RETURNED = frozenset({"Returned"})
CONFIRMED = frozenset({"Preparing", "Shipped", "Delivered"})
HOLDS_FOR = {"Preparing": {"reserved"}, "Shipped": {"committed"}, "Delivered": {"committed"},
             "Returned": {"restocked"}, "ReturnRequested": {"committed", "restocked"}}


@dataclass(frozen=True)
class Where:
    """A record: its topic, partition and offset."""
    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass(frozen=True)
class DeadLetter:
    source: Where            # the record parked (x-dlq-topic/-partition/-offset)
    reason: str              # x-dlq-exception
    injected: bool           # carries the poison header


@dataclass(frozen=True)
class Violation:
    check: str
    subject: str
    evidence: str

    def __str__(self) -> str:
        return f"VIOLATION {self.check}: {self.subject}: {self.evidence}"


@dataclass
class Report:
    violations: list[Violation]
    totals: dict[str, dict[str, int]]
    dead_letters: list[str] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def text(self) -> str:
        lines = [str(v) for v in self.violations]
        lines += [f"dead letter: {line}" for line in self.dead_letters]
        lines += [f"in flight: {line}" for line in self.in_flight]
        for section, figures in self.totals.items():
            lines.append(f"{section}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
        lines.append(f"audit: {len(self.violations)} violation(s)")
        return "\n".join(lines)


@dataclass(frozen=True)
class Gateway:
    """The gateway's and carrier's own books (the simulator's GET /v1/stats)."""
    charged_by_payment: Mapping[str, int]
    refunded_by_payment: Mapping[str, int]
    labels_by_shipment: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def from_stats(cls, stats: dict) -> "Gateway":
        return cls(stats.get("charged_by_payment", {}), stats.get("refunded_by_payment", {}),
                   stats.get("labels_by_shipment", {}))


def audit(events: Iterable[Message], *, now: datetime, dead_letters: Iterable[DeadLetter] = (),
          poison: Iterable[Where] = (), accepted: Iterable[str] = (), undecodable: Iterable[str] = (),
          gateway: Gateway | None = None, rows: Mapping[str, dict] | None = None,
          settled: bool = False, grace: timedelta = timedelta(seconds=30)) -> Report:
    """Fold the events into books, check them. `accepted`: order ids a client got a 202 for;
    `rows`: current rows read from the workers ("product/<id>", "account/<id>"); `settled`: a
    quiet system, where every order must be settled. Else (a live system) an order is stuck only
    past its deadline, its retries and `grace`, and one settled within `grace` of `now` is not
    held to the books yet: what its settling set off may still be on its way."""
    books = Books()
    for event in events:
        books.add(event)
    return check(books, now=now, dead_letters=list(dead_letters), poison=set(poison),
                 accepted=set(accepted), undecodable=list(undecodable), gateway=gateway,
                 rows=rows or {}, settled=settled, grace=grace)


def check(books: Books, *, now: datetime, dead_letters: list[DeadLetter], poison: set[Where],
          accepted: set[str], undecodable: list[str], gateway: Gateway | None,
          rows: Mapping[str, dict], settled: bool, grace: timedelta) -> Report:
    found = [Violation(a.check, a.subject, a.evidence) for a in books.anomalies]
    found += [Violation("undecodable-event", where, "an event log holds a record that is not "
                        "a message") for where in undecodable]
    holds = holds_by_order(books)
    in_flight: list[str] = []
    for order in books.orders.values():
        if order.status is None:
            continue
        if is_settled(order) and (settled or order.updated_at is None
                                  or order.updated_at < now - grace):
            found += order_checks(books, order, holds.get(order.order_id, {}), gateway)
        found += progress_checks(order, now, settled, grace, in_flight)
    found += [Violation("accepted-not-created", order_id, "answered 202, yet no OrderCreated")
              for order_id in sorted(accepted - created(books))]
    found += account_checks(books, rows) + product_checks(books, holds, rows)
    parked, letters = dead_letter_checks(dead_letters, poison)
    return Report(found + parked, totals(books, dead_letters, gateway), letters, in_flight)


def is_settled(order: Order) -> bool:
    return order.deadline is None and not order.undo


def created(books: Books) -> set[str]:
    return {o.order_id for o in books.orders.values() if o.status is not None}


def holds_by_order(books: Books) -> dict[str, dict[str, Hold]]:
    by_order: dict[str, dict[str, Hold]] = defaultdict(dict)
    for product in books.products.values():
        for order_id, hold in product.holds.items():
            by_order[order_id][product.product_id] = hold
    return by_order


# --- orders: money, stock, progress ------------------------------------------------------------
def order_checks(books: Books, order: Order, holds: dict[str, Hold],
                 gateway: Gateway | None) -> list[Violation]:
    found: list[Violation] = []
    payment_id = payment_id_for(order.order_id)
    captured, refunded, captures = money_of(books, order, payment_id)
    oid, status = order.order_id, order.status
    if len(captures) > 1:
        found.append(Violation("captured-twice", oid, f"payment {payment_id} ({order.payment_method}) "
                               f"captured by {len(captures)} transactions: {captures}"))
    if refunded > captured:
        found.append(Violation("refunded-more", oid, f"refunded {refunded}, captured {captured}"))
    if status in ENDED_EMPTY | ENDED_RETURNED and captured != refunded:
        found.append(Violation("money-kept", oid, f"{status}, yet captured {captured} - "
                               f"refunded {refunded} = {captured - refunded}"))
    if status in ENDED_EMPTY and oid in books.dispatched:
        found.append(Violation("goods-kept", oid, f"{status}, yet its shipment was dispatched"))
    if status in CONFIRMED:
        found += confirmed_checks(books, order, captured - refunded)
    if gateway is not None and order.payment_method == "card":
        found += gateway_checks(order, payment_id, captured, refunded, gateway)
    if gateway is not None:
        found += label_checks(order, gateway)
    return found + hold_checks(order, holds)


def money_of(books: Books, order: Order, payment_id: str) -> tuple[int, int, dict[str, int]]:
    """(captured, refunded, the capturing transactions) of the order's payment: account money
    from the account's events, card money from the payment's."""
    payment = books.payments.get(payment_id)
    if order.payment_method == "account":
        account = books.accounts.get(order.account_id)
        captures = dict(account.debits.get(payment_id, {})) if account else {}
        refunds = account.refunds.get(payment_id, {}) if account else {}
        return sum(captures.values()), sum(refunds.values()), captures
    if payment is None:
        return 0, 0, {}
    return (sum(payment.captures.values()), sum(payment.refunds.values()) + payment.reversed,
            dict(payment.captures))


def catalog_total(books: Books, order: Order) -> int | None:
    prices = [books.products.get(item.product_id) for item in order.items]
    if any(p is None or p.registered is None for p in prices):
        return None
    return sum(item.quantity * p.price for item, p in zip(order.items, prices))


def confirmed_checks(books: Books, order: Order, net: int) -> list[Violation]:
    found, oid = [], order.order_id
    total = catalog_total(books, order)
    if total is None:
        return [Violation("unknown-product", oid, f"{order.status} with items the catalog never "
                          f"registered: {[i.product_id for i in order.items]}")]
    claims = {"charged (captured - refunded)": net, "the order's total": order.total_amount,
              **{"OrderConfirmed total": t for t in books.confirmed_totals.get(oid, ())}}
    for what, amount in claims.items():
        if amount != total:
            found.append(Violation("charged-wrong-amount", oid, f"{order.status}: {what} is "
                                   f"{amount}, the items at catalog prices cost {total}"))
    return found


def gateway_checks(order: Order, payment_id: str, captured: int, refunded: int,
                   gateway: Gateway) -> list[Violation]:
    charged = gateway.charged_by_payment.get(payment_id, 0)
    given_back = gateway.refunded_by_payment.get(payment_id, 0)
    if (charged, given_back) == (captured, refunded):
        return []
    return [Violation("gateway-disagrees", order.order_id, f"{order.status}: the gateway charged "
                      f"{charged} and gave back {given_back}; the payment's events say captured "
                      f"{captured}, refunded {refunded}")]


def label_checks(order: Order, gateway: Gateway) -> list[Violation]:
    labels = gateway.labels_by_shipment.get(shipment_id_for(order.order_id), {})
    live = [tracking for tracking, status in labels.items() if status != "cancelled"]
    if len(live) > 1 or (live and order.status in ENDED_EMPTY):
        return [Violation("label-kept", order.order_id, f"{order.status}, yet the carrier holds "
                          f"live labels {live}")]
    return []


def hold_checks(order: Order, holds: dict[str, Hold]) -> list[Violation]:
    oid, status = order.order_id, order.status
    if status in ENDED_EMPTY:
        kept = {p: h.status for p, h in holds.items() if h.status in ("reserved", "committed")}
        return [Violation("stock-held", oid, f"{status}, yet holds {kept}")] if kept else []
    wanted = HOLDS_FOR.get(status or "")
    if wanted is None:
        return []
    problems = [f"{item.product_id}: {_hold(holds.get(item.product_id))}" for item in order.items
                if (h := holds.get(item.product_id)) is None or h.status not in wanted
                or h.quantity != item.quantity]
    if problems:
        return [Violation("stock-held", oid, f"{status} wants {item_counts(order)} "
                          f"{'/'.join(sorted(wanted))}; products say {problems}")]
    return []


def _hold(hold: Hold | None) -> str:
    return "no hold" if hold is None else f"{hold.quantity} {hold.status}"


def item_counts(order: Order) -> str:
    return ", ".join(f"{i.quantity} x {i.product_id}" for i in order.items)


def progress_checks(order: Order, now: datetime, settled: bool, grace: timedelta,
                    in_flight: list[str]) -> list[Violation]:
    if is_settled(order):
        return []
    where = (f"{order.status}, step {order.step} attempt {order.attempt}, deadline "
             f"{order.deadline.isoformat() if order.deadline else '-'}, outstanding "
             f"{list(order.undo) or '-'}")
    if settled:
        return [Violation("not-settled", order.order_id, where)]
    if order.deadline is not None and now > order.deadline + retries_left(order) + grace:
        return [Violation("stuck", order.order_id, f"past its deadline and retries: {where}")]
    in_flight.append(f"{order.order_id}: {where}")
    return []


def retries_left(order: Order) -> timedelta:
    policy = order.policy
    left = max(0, policy.max_retries + 1 - order.attempt) + 1
    per_try = policy.step_timeout_ms + min(policy.backoff_cap_ms,
                                           policy.backoff_base_ms * 2 ** policy.max_retries)
    return timedelta(milliseconds=left * (per_try + policy.backoff_base_ms))


# --- accounts and products ---------------------------------------------------------------------
def account_checks(books: Books, rows: Mapping[str, dict]) -> list[Violation]:
    found = []
    for account in books.accounts.values():
        if account.lowest < 0:
            found.append(Violation("account-negative", account.account_id,
                                   f"the balance went down to {account.lowest}"))
        row = rows.get(f"account/{account.account_id}")
        if row is not None and row.get("balance") != account.balance:
            found.append(Violation("account-balance", account.account_id,
                                   f"the account shows balance {row.get('balance')}; credits - "
                                   f"debits + refunds in its events = {account.balance}"))
    return found


def product_checks(books: Books, holds: dict[str, dict[str, Hold]],
                   rows: Mapping[str, dict]) -> list[Violation]:
    found = []
    for product in books.products.values():
        pid, counts = product.product_id, (product.on_hand, product.reserved, product.shipped)
        if sum(counts) != product.expected or min(counts) < 0:
            found.append(Violation("stock-not-conserved", pid, f"on_hand {counts[0]} + reserved "
                                   f"{counts[1]} + shipped {counts[2]} != registered "
                                   f"{product.registered} + updates {product.adjusted}"))
        row = rows.get(f"product/{pid}")
        if row is not None and tuple(row.get(k) for k in ("on_hand", "reserved", "shipped")) != counts:
            found.append(Violation("stock-books", pid, f"the product shows on_hand/reserved/"
                                   f"shipped {row.get('on_hand')}/{row.get('reserved')}/"
                                   f"{row.get('shipped')}; its events add up to "
                                   f"{counts[0]}/{counts[1]}/{counts[2]}"))
        for order_id, hold in product.holds.items():
            if order_id not in books.orders and hold.status in ("reserved", "committed"):
                found.append(Violation("stock-held", order_id, f"{pid}: {hold.quantity} "
                                       f"{hold.status} for an order that was never created"))
    return found


# --- dead letters ------------------------------------------------------------------------------
def dead_letter_checks(letters: list[DeadLetter], poison: set[Where]
                       ) -> tuple[list[Violation], list[str]]:
    found, listed = [], []
    times = Counter(letter.source for letter in letters)
    for source, count in sorted(times.items(), key=lambda kv: str(kv[0])):
        letter = next(x for x in letters if x.source == source)
        kind = "injected poison" if letter.injected else "UNEXPECTED"
        listed.append(f"{source} ({kind}, parked {count}x): {letter.reason}")
        if not letter.injected:
            found.append(Violation("dead-letter", str(source), letter.reason))
    found += [Violation("poison-not-parked", str(where), "injected poison that no worker "
                        "dead-lettered") for where in sorted(poison - set(times), key=str)]
    return found, listed


# --- totals ------------------------------------------------------------------------------------
def totals(books: Books, letters: list[DeadLetter], gateway: Gateway | None) -> dict[str, dict[str, int]]:
    orders = [o for o in books.orders.values() if o.status is not None]
    cards = [p for p in books.payments.values() if p.method == "card"]
    accounts = books.accounts.values()
    products = books.products.values()
    result = {
        "orders": {"accepted": len(orders), **Counter(o.status for o in orders),
                   "settled": sum(1 for o in orders if is_settled(o))},
        "money": {"account top-ups": sum(a.topped_up for a in accounts),
                  "account debits": sum(a.debited for a in accounts),
                  "account refunds": sum(a.refunded for a in accounts),
                  "card captured": sum(sum(p.captures.values()) for p in cards),
                  "card refunded": sum(sum(p.refunds.values()) + p.reversed for p in cards),
                  "confirmed order totals": sum(o.total_amount for o in orders
                                                if o.status in CONFIRMED)},
        "stock": {"products": len(books.products),
                  "registered": sum(p.registered or 0 for p in products),
                  "updated": sum(p.adjusted for p in products),
                  "on hand": sum(p.on_hand for p in products),
                  "reserved": sum(p.reserved for p in products),
                  "shipped": sum(p.shipped for p in products),
                  "released": sum(p.released for p in products),
                  "restocked": sum(p.restocked for p in products)},
        "dead letters": {"parked": len(letters),
                         "records": len({x.source for x in letters}),
                         "injected": sum(1 for x in letters if x.injected),
                         "unexpected": sum(1 for x in letters if not x.injected)},
        "events": {"read": books.events},
    }
    if gateway is not None:
        result["gateway"] = {"charged": sum(gateway.charged_by_payment.values()),
                             "given back": sum(gateway.refunded_by_payment.values())}
    return result
