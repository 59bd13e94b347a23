"""`orderstream bench`: place N orders with a chosen concurrency against a running system and
report completed orders/s and end-to-end latency (accepted -> settled) percentiles."""

import asyncio
import statistics
import time
import uuid
from collections import Counter

import aiohttp

from orderstream.settings import DEFAULT_PORTS

ADDRESS = {"recipient": "Bench", "line1": "1 Load St", "city": "Testville", "postal_code": "00001",
           "country": "GB"}


def url(context: str, host: str) -> str:
    return f"http://{host}:{DEFAULT_PORTS[context]}"


async def seed(session, host: str, run: str, orders: int, token: str | None) -> tuple[str, str]:
    product, account = f"bench-{run}-p", f"bench-{run}-a"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    calls = [(url("catalog", host) + "/products", {"product_id": product, "sku": product, "name": "bench",
                                                   "price": 100, "currency": "EUR", "on_hand": orders}),
             (url("account", host) + "/accounts", {"account_id": account, "customer_id": account,
                                                   "currency": "EUR"}),
             (url("account", host) + f"/accounts/{account}/credit", {"amount": 100 * orders, "currency": "EUR"})]
    for target, body in calls:
        async with session.post(target, json=body, headers=headers) as response:
            assert response.status == 202, await response.text()
    for target in (f"{url('catalog', host)}/products/{product}", f"{url('account', host)}/accounts/{account}"):
        for _ in range(100):
            async with session.get(target) as response:
                if response.status == 200:
                    break
            await asyncio.sleep(0.1)
    return product, account


async def one(session, host: str, product: str, account: str, headers: dict) -> tuple[float, str]:
    body = {"customer_id": account, "account_id": account, "shipping_address": ADDRESS,
            "items": [{"product_id": product, "quantity": 1}]}
    start = time.monotonic()
    async with session.post(url("order", host) + "/orders", json=body, headers=headers) as response:
        order_id = (await response.json())["order_id"]
    while True:
        async with session.get(f"{url('order', host)}/orders/{order_id}?wait_for=settled&timeout=30") as response:
            if response.status == 200:
                order = await response.json()
                if order["settled"]:
                    return time.monotonic() - start, order["status"]
        await asyncio.sleep(0.05)


async def bench(orders: int, concurrency: int, host: str, token: str | None) -> dict:
    run = uuid.uuid4().hex[:8]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        product, account = await seed(session, host, run, orders, token)
        gate = asyncio.Semaphore(concurrency)

        async def limited():
            async with gate:
                return await one(session, host, product, account, headers)

        start = time.monotonic()
        results = await asyncio.gather(*(limited() for _ in range(orders)))
        elapsed = time.monotonic() - start
    latencies = sorted(r[0] for r in results)
    pct = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else latencies * 99
    return {"orders": orders, "concurrency": concurrency, "seconds": round(elapsed, 2),
            "orders_per_second": round(orders / elapsed, 2),
            "latency_ms": {"p50": round(pct[49] * 1000), "p90": round(pct[89] * 1000),
                           "p99": round(pct[98] * 1000), "max": round(latencies[-1] * 1000)},
            "outcomes": dict(Counter(r[1] for r in results))}


def report(result: dict) -> str:
    lat = result["latency_ms"]
    return (f"{result['orders']} orders, concurrency {result['concurrency']}: "
            f"{result['orders_per_second']} orders/s over {result['seconds']}s; latency accepted->settled "
            f"p50 {lat['p50']} ms, p90 {lat['p90']} ms, p99 {lat['p99']} ms, max {lat['max']} ms; "
            f"outcomes {result['outcomes']}")
