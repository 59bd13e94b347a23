"""What the bench orders: `hot` (one product, one customer: every order contends for the same
two actors) or `spread` (many products and customers, 1-3 lines per order: what a shop sees).

Orders are drawn up front from a seeded random generator, so two runs with the same options
place the same orders, and the stock and money seeded are exactly what they need (plus a
margin), so every order can succeed."""

import asyncio
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from orderstream.settings import DEFAULT_PORTS

CURRENCY = "EUR"
ADDRESS = {"recipient": "Bench", "line1": "1 Load St", "city": "Testville", "postal_code": "00001",
           "country": "GB"}
MARGIN = 1.1


@dataclass(frozen=True)
class Line:
    product_id: str
    quantity: int
    unit_price: int


@dataclass(frozen=True)
class Order:
    customer_id: str
    lines: tuple[Line, ...]


def order_body(order: Order) -> dict:
    """The POST /orders request: the one place that knows its shape (the catalog prices it)."""
    return {"customer_id": order.customer_id, "account_id": order.customer_id,
            "shipping_address": ADDRESS,
            "items": [{"product_id": line.product_id, "quantity": line.quantity} for line in order.lines]}


@dataclass(frozen=True)
class Shop:
    """The products (id -> price) and customers (each with an account of the same id) a run uses."""

    run: str
    prices: dict[str, int]
    customers: tuple[str, ...]

    def draw(self, count: int, rng: random.Random, max_lines: int, max_quantity: int) -> list[Order]:
        products = sorted(self.prices)
        orders = []
        for _ in range(count):
            chosen = rng.sample(products, rng.randint(1, min(max_lines, len(products))))
            orders.append(Order(rng.choice(self.customers),
                                tuple(Line(p, rng.randint(1, max_quantity), self.prices[p]) for p in chosen)))
        return orders


def shop(workload: str, run: str, rng: random.Random, products: int, customers: int) -> Shop:
    if workload == "hot":
        return Shop(run, {f"bench-{run}-p": 100}, (f"bench-{run}-a",))
    return Shop(run, {f"bench-{run}-p{i}": rng.randint(100, 5000) for i in range(products)},
                tuple(f"bench-{run}-c{i}" for i in range(customers)))


def orders_for(workload: str, shop_: Shop, count: int, rng: random.Random) -> list[Order]:
    if workload == "hot":
        return shop_.draw(count, rng, max_lines=1, max_quantity=1)
    return shop_.draw(count, rng, max_lines=3, max_quantity=2)


def stock_needed(orders: Sequence[Order]) -> Counter:
    need: Counter = Counter()
    for order in orders:
        for line in order.lines:
            need[line.product_id] += line.quantity
    return need


def money_needed(orders: Sequence[Order]) -> Counter:
    need: Counter = Counter()
    for order in orders:
        need[order.customer_id] += sum(line.quantity * line.unit_price for line in order.lines)
    return need


def url(context: str, host: str) -> str:
    return f"http://{host}:{DEFAULT_PORTS[context]}"


async def seed(session: aiohttp.ClientSession, host: str, shop_: Shop, orders: Sequence[Order],
               headers: dict, parallel: int = 16) -> int:
    """Register the products (with the stock the orders need), the customers and their accounts
    (credited with what they will spend) through the HTTP APIs; wait until every one is readable.
    Returns the number of seeding requests."""
    stock, money = stock_needed(orders), money_needed(orders)
    products = [("catalog", "/products", {"product_id": p, "sku": p, "name": "bench", "price": price,
                                          "currency": CURRENCY, "on_hand": int(stock[p] * MARGIN) + 1})
                for p, price in shop_.prices.items()]
    people = [("customer", "/customers", {"customer_id": c, "name": "Bench", "email": f"{c}@example.com"})
              for c in shop_.customers]
    people += [("account", "/accounts", {"account_id": c, "customer_id": c, "currency": CURRENCY})
               for c in shop_.customers]
    credits = [("account", f"/accounts/{c}/credit", {"amount": int(money[c] * MARGIN) + 100, "currency": CURRENCY})
               for c in shop_.customers]
    gate = asyncio.Semaphore(parallel)

    async def post(context: str, path: str, body: dict) -> None:
        async with gate, session.post(url(context, host) + path, json=body, headers=headers) as response:
            if response.status != 202:
                raise RuntimeError(f"seeding: POST {context} {path} -> {response.status} {await response.text()}")

    async def ready(context: str, path: str, check) -> None:
        for _ in range(600):
            async with gate, session.get(url(context, host) + path, headers=headers) as response:
                if response.status == 200 and check(await response.json()):
                    return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"seeding: {context} {path} not ready after 60s")

    for batch in (products + people, credits):
        await asyncio.gather(*(post(*call) for call in batch))
    await asyncio.gather(*(ready("catalog", f"/products/{p}", lambda _: True) for p in shop_.prices),
                         *(ready("account", f"/accounts/{c}", lambda a, c=c: a["balance"] >= money[c])
                           for c in shop_.customers))
    return len(products) + len(people) + len(credits)
