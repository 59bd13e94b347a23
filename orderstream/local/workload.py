"""The chaos run's customers: a spread workload over a system's HTTP APIs, and a watch on its
order log.

Many products (a few scarce), many accounts (a few poor), 1-3 lines per order, about 20% paid
by card (large card totals are declined), some to an address the carrier refuses, some cancelled
at once, some shipped and delivered, some of those returned; some POSTs repeated with the same
Idempotency-Key, and about 1% poison produced straight onto command topics. Every request is
retried (same key) until it is answered, as a client of a system under faults must be.

Outcomes are followed on the order log (`OrderWatch`), not by polling the order API, so the
load the run adds is the orders themselves.
"""

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from orderstream.contracts import decode
from orderstream.contracts.envelope import derived_id
from orderstream.contracts.ids import shipment_id_for
from orderstream.local.audit import POISON_HEADER
from orderstream.order.state import Order, evolve
from orderstream.runtime.kafka import client_kwargs
from orderstream.settings import CONTEXTS, Settings

ADDRESS = {"recipient": "Chaos Monkey", "line1": "1 Fault Line", "city": "Leeds",
           "postal_code": "LS1 1AA", "country": "GB"}
REFUSED = ADDRESS | {"country": "AQ"}  # the carrier simulator is started refusing it
POISON = [b"\xff not a message", b'{"type": "NoSuchCommand"}', b'{"type": "ReserveItems"}',
          b'{"type": "CreditAccount", "account_id": "x"}', b"[1, 2, 3]"]


@dataclass(frozen=True)
class Shop:
    products: dict[str, tuple[int, int]]   # id -> (price, units)
    accounts: dict[str, int]               # id -> opening balance
    restock: dict[str, int]                # scarce products set to these free units mid-run

    @classmethod
    def for_orders(cls, orders: int, rng: random.Random, run: str) -> "Shop":
        plenty = max(12, orders // 40)
        products = {f"{run}-p{i}": (rng.randrange(100, 3000, 10), rng.randint(100, 200) * orders // 600 + 20)
                    for i in range(plenty)}
        scarce = {f"{run}-scarce{i}": (rng.randrange(100, 3000, 10), 3) for i in range(2)}
        accounts = {f"{run}-a{i}": 5_000 if i % 10 == 9 else 100_000_000
                    for i in range(max(20, orders // 25))}
        return cls(products | scarce, accounts, {p: 20 for p in scarce})


@dataclass(frozen=True)
class Plan:
    """One order of the workload and what its customer does with it."""
    key: str
    account: str
    items: tuple[tuple[str, int], ...]
    card: bool
    refused_address: bool
    cancel_after: float | None
    ship: bool
    give_back: bool
    duplicate: bool

    @property
    def order_id(self) -> str:
        return derived_id("http", "order", "order", self.key)  # what the order API derives

    def body(self) -> dict:
        card = {"payment_method": "card", "card_token": "tok_chaos"} if self.card else {}
        return {"customer_id": self.account, "account_id": self.account,
                "items": [{"product_id": p, "quantity": q} for p, q in self.items],
                "shipping_address": REFUSED if self.refused_address else ADDRESS, **card}


def plans(shop: Shop, orders: int, rng: random.Random, run: str) -> list[Plan]:
    products, accounts = sorted(shop.products), sorted(shop.accounts)
    made = []
    for n in range(orders):
        lines = rng.sample(products, rng.choice([1, 1, 2, 2, 3]))
        cancel = rng.random() < 0.05
        ship = not cancel and rng.random() < 0.2  # a cancel racing the dispatch: see README
        made.append(Plan(
            key=f"{run}-order-{n}", account=rng.choice(accounts),
            items=tuple((p, rng.randint(1, 3)) for p in lines), card=rng.random() < 0.2,
            refused_address=rng.random() < 0.02,
            cancel_after=rng.uniform(0, 2) if cancel else None,
            ship=ship, give_back=ship and rng.random() < 0.3, duplicate=rng.random() < 0.03))
    return made


class OrderWatch:
    """Every order as its own events tell it, read from the order log as they are written."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.orders: dict[str, Order] = {}
        self.settled_at: dict[str, float] = {}       # order id -> when first seen settled
        self.changed: dict[str, asyncio.Event] = {}  # order id -> set when it next changes
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None,
                                    **client_kwargs(self.settings))
        await consumer.start()
        topic = self.settings.topic("order.events")
        partitions = [TopicPartition(topic, p) for p in range(self.settings.topic_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        self.task = asyncio.create_task(self._follow(consumer))

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                for record in (r for records in batch.values() for r in records):
                    event = decode(record.value)
                    state = self.orders.get(event.order_id) or Order(order_id=event.order_id)
                    order = self.orders[event.order_id] = evolve(state, event)
                    if settled(order) and order.status is not None:
                        self.settled_at.setdefault(event.order_id, time.monotonic())
                    if (changed := self.changed.pop(event.order_id, None)) is not None:
                        changed.set()
        finally:
            await consumer.stop()

    async def wait(self, order_id: str, condition: Callable[[Order], bool],
                   deadline: float) -> Order | None:
        while not ((order := self.orders.get(order_id)) is not None and condition(order)):
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            changed = self.changed.setdefault(order_id, asyncio.Event())
            try:
                await asyncio.wait_for(changed.wait(), timeout=min(left, 5))
            except TimeoutError:
                pass
        return order

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


def settled(order: Order) -> bool:
    return order.deadline is None and not order.undo


@dataclass
class Customers:
    """Places the plans through a system's APIs; `urls(context)` gives the replicas that run."""
    urls: Callable[[str], list[str]]
    settings: Settings
    watch: OrderWatch
    deadline: float                          # no request or wait goes past this
    session: aiohttp.ClientSession | None = None
    producer: AIOKafkaProducer | None = None
    seen: Counter = field(default_factory=Counter)
    accepted: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    async def __aenter__(self) -> "Customers":
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30),
                                             connector=aiohttp.TCPConnector(limit=64))
        self.producer = AIOKafkaProducer(acks="all", **client_kwargs(self.settings))
        await self.producer.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.session.close()
        await self.producer.stop()

    async def call(self, context: str, path: str, body: dict, key: str | None = None,
                   ok: tuple[int, ...] = (202,)) -> tuple[int, dict]:
        """POST until answered with a status that is not a retry (5xx, no connection)."""
        headers = {"Idempotency-Key": key} if key else {}
        attempt = 0
        while time.monotonic() < self.deadline:
            replicas = self.urls(context)
            url = replicas[attempt % len(replicas)] if replicas else None
            attempt += 1
            try:
                if url is None:
                    raise aiohttp.ClientConnectionError("no replica running")
                async with self.session.post(url + path, json=body, headers=headers) as response:
                    if response.status < 500:
                        answer = await response.json(content_type=None)
                        if response.status not in ok:
                            self.seen[f"{context} {response.status}"] += 1
                        return response.status, answer or {}
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                pass
            self.seen[f"{context} retried"] += 1
            await asyncio.sleep(min(2.0, 0.2 * attempt))
        return 0, {}

    async def seed(self, shop: Shop) -> None:
        for product, (price, units) in shop.products.items():
            await self.call("catalog", "/products", {"product_id": product, "sku": product,
                                                     "name": product, "price": price,
                                                     "currency": "EUR", "on_hand": units},
                            key=f"seed-{product}")
        for account, balance in shop.accounts.items():
            await self.call("customer", "/customers", {"customer_id": account, "name": account,
                                                       "email": f"{account}@example.com"},
                            key=f"seed-c-{account}")
            await self.call("account", "/accounts", {"account_id": account, "customer_id": account,
                                                     "currency": "EUR"}, key=f"seed-a-{account}")
            await self.call("account", f"/accounts/{account}/credit",
                            {"amount": balance, "currency": "EUR"}, key=f"seed-t-{account}")

    async def restock(self, shop: Shop) -> None:
        for product, units in shop.restock.items():
            await self.call("catalog", f"/products/{product}/stock", {"quantity": units},
                            key=f"restock-{product}")

    async def place(self, plan: Plan) -> str | None:
        status, answer = await self.call("order", "/orders", plan.body(), key=plan.key)
        if status != 202:
            self.problems.append(f"order {plan.key}: POST /orders answered {status} {answer}")
            return None
        if answer.get("order_id") != plan.order_id:
            self.problems.append(f"order {plan.key}: answered order id {answer.get('order_id')}, "
                                 f"the Idempotency-Key derives {plan.order_id}")
        self.accepted.add(answer["order_id"])
        return answer["order_id"]

    async def live(self, plan: Plan) -> None:
        """The life of one order, as its customer and its carrier see it."""
        order_id = await self.place(plan)
        if order_id is None:
            return
        self.seen["placed"] += 1
        if plan.duplicate:
            self.seen["duplicate POSTs"] += 1
            await self.place(plan)
        if plan.cancel_after is not None:
            await asyncio.sleep(plan.cancel_after)
            status, _ = await self.call("order", f"/orders/{order_id}/cancel",
                                        {"reason": "chaos: changed my mind"}, ok=(202, 409))
            self.seen[f"cancel answered {status}"] += 1
        order = await self.watch.wait(order_id, settled, self.deadline)
        if order is None or order.status != "Preparing" or not plan.ship:
            return
        await self.carry(order_id, plan.give_back)

    async def carry(self, order_id: str, give_back: bool) -> None:
        shipment = f"/shipments/{shipment_id_for(order_id)}/status"
        for status, then in (("dispatched", "Shipped"), ("delivered", "Delivered")):
            await self.call("shipment", shipment, {"status": status, "location": "chaos"},
                            key=f"{order_id}-{status}")
            if await self.watch.wait(order_id, lambda o: o.status == then, self.deadline) is None:
                return
        self.seen["delivered"] += 1
        if give_back:
            status, _ = await self.call("order", f"/orders/{order_id}/return",
                                        {"reason": "chaos: not what I wanted"}, ok=(202,))
            self.seen[f"return answered {status}"] += 1

    async def poison(self, rng: random.Random) -> None:
        """A record no worker can process, straight onto a command topic."""
        topic = self.settings.topic(f"{rng.choice(CONTEXTS)}.commands")
        value = rng.choice(POISON)
        key = None if rng.random() < 0.2 else b"chaos-poison"
        while time.monotonic() < self.deadline:
            try:
                await self.producer.send_and_wait(topic, value, key=key, headers=[
                    (POISON_HEADER, b"1"), ("type", b"poison")])
                self.seen["poison"] += 1
                return
            except KafkaError:  # the broker is away: try again
                await asyncio.sleep(1)


async def drive(customers: Customers, plans_: list[Plan], seconds: float, rng: random.Random,
                at_half: Callable[[], object] | None = None) -> None:
    """Start each plan's life at an even pace over `seconds`; poison about 1 in 100; wait
    for every life to end."""
    started = time.monotonic()
    lives = []
    for n, plan in enumerate(plans_):
        await asyncio.sleep(max(0.0, started + n * seconds / len(plans_) - time.monotonic()))
        lives.append(asyncio.create_task(customers.live(plan)))
        if rng.random() < 0.01:
            lives.append(asyncio.create_task(customers.poison(rng)))
        if n == len(plans_) // 2 and at_half is not None:
            lives.append(asyncio.create_task(at_half()))
    await asyncio.gather(*lives)
