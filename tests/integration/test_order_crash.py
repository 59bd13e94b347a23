"""A 202 is a promise: the order worker is SIGKILLed again and again while orders pour in
(also right after it starts), and every order whose POST answered 202 still ends settled,
charged at most once, with no reservation left behind."""

import signal
import threading
import time
import urllib.error
import uuid

import pytest

from tests.integration.http import eventually, get, post
from tests.integration.system import ADDRESS, start_system

pytestmark = pytest.mark.kafka

CYCLES = 5
PRICE = 100


def placer(url: str, accepted: list[str], stop: threading.Event) -> None:
    """POST about five orders a second as a careful client does: each with an Idempotency-Key,
    sent again with that key until it is answered (the worker may die after the order is in
    Kafka and before its 202: the retry answers with the same order). Keep each id answered 202."""
    body = {"customer_id": "crash", "account_id": "crash",
            "items": [{"product_id": "bolt", "quantity": 1}],
            "shipping_address": ADDRESS}
    while not stop.is_set():
        key, status, answer = uuid.uuid4().hex, None, {}
        give_up = time.monotonic() + 180
        while status in (None, 503) and time.monotonic() < give_up:
            try:
                status, answer = post(f"{url}/orders", body, headers={"Idempotency-Key": key})
            except (OSError, urllib.error.URLError):
                status = None  # the worker is down: the same order again, once it is back
            if status in (None, 503):
                time.sleep(0.2)
        assert status is not None, f"order {key} never answered"
        if status == 202:
            accepted.append(answer["order_id"])
        time.sleep(0.2)


def settle_all(url: str, order_ids: list[str], timeout: float) -> tuple[dict, dict[str, object]]:
    """Poll every order until it is settled or time is up: (settled orders, the last answer
    for each order still not settled, so a failure shows where it stopped)."""
    final: dict[str, dict] = {}
    pending: dict[str, object] = dict.fromkeys(order_ids)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for order_id in list(pending):
            status, body = get(f"{url}/orders/{order_id}")
            if status == 200 and body["settled"]:
                final[order_id] = body
                del pending[order_id]
            else:
                pending[order_id] = (status, body)
        time.sleep(1 if pending else 0)
    return final, pending


@pytest.mark.parametrize("mode", ["orchestration", "choreography"])
def test_every_accepted_order_survives_repeated_kills_of_the_order_worker(workers, simulator, mode):
    shop = start_system(workers, ORDERSTREAM_SAGA_MODE=mode, ORDERSTREAM_GATEWAY_URL=simulator,
                        ORDERSTREAM_CARRIER_URL=simulator)
    shop.product("bolt", 100_000, price=PRICE)
    shop.account("crash", 10_000_000)
    eventually(lambda: shop.opened("crash") if get(f"{shop.url('catalog')}/products/bolt")[0] == 200 else 0,
               lambda balance: balance == 10_000_000)

    order = shop.workers["order"]
    accepted: list[str] = []
    stop = threading.Event()
    threads = [threading.Thread(target=placer, args=(order.url, accepted, stop))]
    for thread in threads:
        thread.start()
    try:
        for cycle in range(CYCLES):
            time.sleep(3 if cycle % 2 else 7)  # odd cycles: killed soon after it came back
            order.kill(signal.SIGKILL)
            order.start(wait=False)  # back at once: orders arrive while it joins and recovers
        order.wait_ready()
        time.sleep(3)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert len(accepted) > 40, "the load never got going"
    final, missing = settle_all(order.url, accepted, timeout=240)
    assert not missing, f"{len(missing)} of {len(accepted)} accepted orders never settled: {list(missing.items())[:5]}"
    assert {o["status"] for o in final.values()} == {"Preparing"}

    confirmed = len(accepted)
    assert shop.balance("crash") == 10_000_000 - confirmed * PRICE  # each charged exactly once
    bolt = eventually(lambda: shop.state("catalog", "/products/bolt"),
                      lambda p: p["reserved"] == confirmed, timeout=60)
    assert bolt["on_hand"] == 100_000 - confirmed  # nothing reserved twice, nothing leaked


def test_every_accepted_order_survives_a_rebalance_storm(workers, simulator):
    """A second order replica leaves and joins again and again: every time, the first one
    suspends its flow, seeks back to the committed offsets and resumes, while orders arrive."""
    shop = start_system(workers, contexts=("catalog", "customer", "account", "payment", "shipment"),
                        ORDERSTREAM_GATEWAY_URL=simulator, ORDERSTREAM_CARRIER_URL=simulator)
    shop.product("bolt", 100_000, price=PRICE)
    shop.account("crash", 10_000_000)
    eventually(lambda: shop.opened("crash") if get(f"{shop.url('catalog')}/products/bolt")[0] == 200 else 0,
               lambda balance: balance == 10_000_000)
    steady = workers("order", replica="a", ORDERSTREAM_GATEWAY_URL=simulator, ORDERSTREAM_CARRIER_URL=simulator)
    # a dynamic member (no instance id): each time it joins or leaves, the group rebalances
    churn = workers("order", replica="b", ORDERSTREAM_GATEWAY_URL=simulator, ORDERSTREAM_CARRIER_URL=simulator,
                    ORDERSTREAM_GROUP_INSTANCE_ID="")

    accepted: list[str] = []
    stop = threading.Event()
    threads = [threading.Thread(target=placer, args=(steady.url, accepted, stop)) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for cycle in range(CYCLES):
            time.sleep(2)
            churn.kill(signal.SIGTERM if cycle % 2 else signal.SIGKILL)
            time.sleep(2)
            churn.start()
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert len(accepted) > 40, "the load never got going"
    final, missing = settle_all(steady.url, accepted, timeout=240)
    assert not missing, f"{len(missing)} of {len(accepted)} accepted orders never settled: {list(missing.items())[:5]}"
    # A partition stalled past a step's deadline and its retries (a killed dynamic member holds
    # it for the 20 s session timeout, and the storm kills it three times) cancels its orders,
    # as the saga's timeout handling says: each then has its money back.
    timed_out = {o["order_id"] for o in final.values()
                 if o["status"] == "Cancelled" and "timed out" in (o.get("reason") or "")}
    other = [(o["order_id"], o["status"], o.get("reason")) for o in final.values()
             if o["order_id"] not in timed_out and o["status"] != "Preparing"]
    assert not other, f"{len(other)} orders ended otherwise: {other[:5]}"
    confirmed = len(accepted) - len(timed_out)
    assert confirmed > 0
    assert eventually(lambda: shop.balance("crash"), lambda b: b == 10_000_000 - confirmed * PRICE) == \
        10_000_000 - confirmed * PRICE  # each confirmed order charged once, each cancelled one given back
    bolt = eventually(lambda: shop.state("catalog", "/products/bolt"),
                      lambda p: p["reserved"] == confirmed, timeout=60)
    assert bolt["on_hand"] == 100_000 - confirmed  # nothing reserved twice, nothing leaked
