"""Two replicas of the order context share its partitions; either answers for any order (the
request is routed to the owner), and the survivor serves them all when one is killed."""

import signal

import pytest

from tests.integration.http import eventually, get, post
from tests.integration.system import ADDRESS

pytestmark = pytest.mark.kafka


def place(url: str, n: int) -> str:
    status, body = post(f"{url}/orders", {
        "customer_id": f"c{n}", "account_id": f"a{n}", "shipping_address": ADDRESS,
        "items": [{"product_id": "p", "quantity": 1 + n}]})
    assert status == 202, body
    return body["order_id"]


def test_either_replica_answers_for_every_order_and_one_survives_the_other(workers):
    a = workers("order", wait=False, replica="a", ORDERSTREAM_TABLE_STANDBY_REPLICAS="1")
    b = workers("order", wait=False, replica="b", ORDERSTREAM_TABLE_STANDBY_REPLICAS="1")
    a.wait_ready()
    b.wait_ready()
    orders = {place(a.url if n % 2 else b.url, n): 1 + n for n in range(8)}

    for replica in (a, b):
        for order_id, quantity in orders.items():
            status, order = eventually(lambda: get(f"{replica.url}/orders/{order_id}"), lambda r: r[0] == 200)
            assert order["order_id"] == order_id and order["items"][0]["quantity"] == quantity
    cancelled = next(iter(orders))
    assert post(f"{b.url}/orders/{cancelled}/cancel", {"reason": "asked b"})[0] == 202
    assert eventually(lambda: get(f"{a.url}/orders/{cancelled}")[1], lambda o: o["status"] == "Cancelled")

    a.kill(signal.SIGKILL)
    for order_id, quantity in orders.items():
        status, order = eventually(lambda: get(f"{b.url}/orders/{order_id}"), lambda r: r[0] == 200, timeout=120)
        assert order["items"][0]["quantity"] == quantity
