"""Two replicas of the order context share its partitions; either answers for any order (the
request is routed to the owner), and the survivor serves them all when one is killed."""

import signal
import time

import pytest

from orderstream.local import replicas
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


def test_a_standby_that_recovers_slowly_misses_no_row_and_takes_over_with_all(workers, env):
    """b joins while a holds every order: b keeps a standby copy of a's partitions, read while
    its recovery is slow (50 ms a changelog record). Orders placed after b joined move b's copy
    past what it read at the start; then a stops and b answers for every order from that copy.
    Faust used to drop the records b's standby had fetched when its recovery completed: b then
    answered 404 for orders that a had accepted (README, bug 11)."""
    a = workers("order", replica="a", ORDERSTREAM_TABLE_STANDBY_REPLICAS="1")
    orders = {place(a.url, n): 1 + n for n in range(24)}
    for order_id in orders:
        eventually(lambda: get(f"{a.url}/orders/{order_id}"), lambda r: r[0] == 200)

    b = workers("order", replica="b", module="tests.integration.slow_recovery",
                ORDERSTREAM_TABLE_STANDBY_REPLICAS="1")
    orders |= {place(a.url, n): 1 + n for n in range(24, 32)}
    for order_id in orders:
        eventually(lambda: get(f"{b.url}/orders/{order_id}"), lambda r: r[0] == 200)
    time.sleep(5)  # b's standby applies the last orders' rows (its slow pace: 50 ms a record)

    a.stop()
    answers = {order_id: eventually(lambda: get(f"{b.url}/orders/{order_id}"),
                                    lambda r: r[0] != 503, timeout=120) for order_id in orders}
    # 503 while b takes a's partitions over; 404 once b has caught up and has no row
    missing = {order_id: answer for order_id, answer in answers.items() if answer[0] != 200}
    assert not missing, f"b lost {len(missing)} of {len(orders)} orders: {missing}"
    assert all(answers[o][1]["items"][0]["quantity"] == q for o, q in orders.items())

    b.stop()  # cleanly: what each replica's disk holds, its next start keeps
    assert replicas.check(env.root, env.settings()) == []
