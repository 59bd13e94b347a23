"""Issue 9, items 3 and 4: an outcome the port did not see is unknown, never a failure.

Real workers, the real broker and the real simulator (gateway and carrier), in both saga modes.
A slow gateway or carrier (answers slower than the workers' HTTP timeout) still acts on every
request; an outage refuses them. Whatever happens, the books at the simulator balance: a
confirmed order was charged once and has one label, a cancelled one keeps no money and no label.
"""

import pytest

from orderstream.contracts.ids import payment_id_for, shipment_id_for
from tests.integration.http import eventually, get, metric, post
from tests.integration.system import start_simulator, start_system, stop

pytestmark = pytest.mark.kafka

MODES = ["orchestration", "choreography"]
PRICE = 1000
# Lost answers, not calls held back: a breaker that never opens lets every request through.
SLOW_ANSWERS = dict(ORDERSTREAM_HTTP_TIMEOUT_SECONDS="0.3", ORDERSTREAM_STEP_TIMEOUT_SECONDS="2",
                    ORDERSTREAM_STEP_MAX_RETRIES="3", ORDERSTREAM_RETRY_BACKOFF_SECONDS="0.2",
                    ORDERSTREAM_BREAKER_FAILURE_THRESHOLD="1000")
SLOW_MS = 1500  # well above the 0.3 s the workers wait for an answer


def stats(url: str) -> dict:
    return get(f"{url}/v1/stats")[1]


def configure(url: str, **config) -> None:
    assert post(f"{url}/admin/config", config)[0] == 200


def open_shop(workers, mode: str, gateway: str, carrier: str, **settings):
    shop = start_system(workers, ORDERSTREAM_SAGA_MODE=mode, ORDERSTREAM_GATEWAY_URL=gateway,
                        ORDERSTREAM_CARRIER_URL=carrier, **settings)
    shop.product("lamp", 50, price=PRICE)
    shop.account("cards", 0)
    eventually(lambda: get(f"{shop.url('account')}/accounts/cards"), lambda r: r[0] == 200)
    eventually(lambda: get(f"{shop.url('catalog')}/products/lamp"), lambda r: r[0] == 200)
    return shop


def place(shop, n: int) -> list[str]:
    return [shop.place("cards", [("lamp", 1)], payment_method="card", card_token="tok")
            for _ in range(n)]


def statuses(shop, orders: list[str]) -> list[str]:
    return [get(f"{shop.url('order')}/orders/{o}")[1].get("status") for o in orders]


def assert_books_balance(shop, gateway: str, carrier: str, orders: list[str]) -> dict:
    """Every order settled; confirmed: one capture, one label; cancelled: nothing kept."""
    final = {order_id: shop.settled(order_id, timeout=120) for order_id in orders}
    money, labels = stats(gateway), stats(carrier)["labels_by_shipment"]
    assert money["charges"] == len(money["charged_by_payment"])  # never twice for one payment
    for order_id, order in final.items():
        payment_id, shipment_id = payment_id_for(order_id), shipment_id_for(order_id)
        charged = money["charged_by_payment"].get(payment_id, 0)
        refunded = money["refunded_by_payment"].get(payment_id, 0)
        made = list(labels.get(shipment_id, {}).values())
        if order["status"] == "Preparing":
            assert (charged, refunded, made) == (PRICE, 0, ["created"]), order
        else:
            assert order["status"] == "Cancelled", order
            assert charged - refunded == 0, (order, charged, refunded)
            assert "created" not in made, (order, made)
            status, payment = get(f"{shop.url('payment')}/payments/{payment_id}")
            assert status == 404 or payment["status"] in ("voided", "failed") or (
                payment["status"], payment["refundable"]) == ("succeeded", 0), payment
    return final


@pytest.fixture
def carrier(tmp_path):
    """A second simulator, playing only the carrier, so that it can be slow on its own."""
    proc, url = start_simulator(tmp_path)
    yield url
    stop(proc)


@pytest.mark.parametrize("mode", MODES)
def test_a_slow_gateway_charges_once_or_gives_it_all_back(workers, simulator, mode):
    shop = open_shop(workers, mode, simulator, simulator, **SLOW_ANSWERS)
    configure(simulator, latency_ms=SLOW_MS)

    # slow for the whole life of their payment step: every charge lands, no answer is seen
    given_up = place(shop, 3)
    eventually(lambda: statuses(shop, given_up), lambda s: s == ["Cancelled"] * 3, timeout=120)

    # charged while slow, then the gateway catches up: the retry with the same key sees it
    caught_up = place(shop, 3)
    eventually(lambda: (stats(simulator)["charged_by_payment"], statuses(shop, caught_up)),
               lambda seen: all(payment_id_for(o) in seen[0] or status == "Cancelled"
                                for o, status in zip(caught_up, seen[1])), timeout=60)
    configure(simulator, latency_ms=0)

    final = assert_books_balance(shop, simulator, simulator, given_up + caught_up)
    assert all("payment step timed out" in final[o]["reason"] for o in given_up)
    assert all(stats(simulator)["charged_by_payment"][payment_id_for(o)] == PRICE
               for o in given_up)  # the money was taken, and all of it given back


@pytest.mark.parametrize("mode", MODES)
def test_a_slow_carrier_leaves_no_label_behind_a_cancelled_order(workers, simulator, carrier,
                                                                 mode):
    shop = open_shop(workers, mode, simulator, carrier, **SLOW_ANSWERS)
    configure(carrier, latency_ms=SLOW_MS)

    given_up = place(shop, 3)
    eventually(lambda: statuses(shop, given_up), lambda s: s == ["Cancelled"] * 3, timeout=120)

    caught_up = place(shop, 3)
    eventually(lambda: (stats(carrier)["labels_by_shipment"], statuses(shop, caught_up)),
               lambda seen: all(shipment_id_for(o) in seen[0] or status == "Cancelled"
                                for o, status in zip(caught_up, seen[1])), timeout=60)
    configure(carrier, latency_ms=0)

    final = assert_books_balance(shop, simulator, carrier, given_up + caught_up)
    assert all("shipment step timed out" in final[o]["reason"] for o in given_up)
    labels = stats(carrier)["labels_by_shipment"]
    assert all(list(labels[shipment_id_for(o)].values()) == ["cancelled"] for o in given_up)


@pytest.mark.parametrize("mode", MODES)
def test_orders_wait_out_a_gateway_outage_and_the_breaker_shows_it(workers, simulator, mode):
    shop = open_shop(workers, mode, simulator, simulator,
                     ORDERSTREAM_HTTP_TIMEOUT_SECONDS="0.5", ORDERSTREAM_STEP_TIMEOUT_SECONDS="3",
                     ORDERSTREAM_STEP_MAX_RETRIES="6", ORDERSTREAM_RETRY_BACKOFF_SECONDS="0.2",
                     ORDERSTREAM_BREAKER_FAILURE_THRESHOLD="2",
                     ORDERSTREAM_BREAKER_COOL_DOWN_SECONDS="1")
    configure(simulator, outage=True)
    during = place(shop, 3)
    # twice the threshold of consecutive refusals: the circuit has opened
    eventually(lambda: stats(simulator)["injected_failures"], lambda n: n >= 4, timeout=60)
    configure(simulator, outage=False)

    final = assert_books_balance(shop, simulator, simulator, during)
    assert [order["status"] for order in final.values()] == ["Preparing"] * 3

    payment = shop.url("payment")
    breaker = lambda state: metric(payment, "orderstream_breaker_state", context="payment",
                                   service="gateway", state=state)
    assert (breaker("closed"), breaker("open"), breaker("half_open")) == (1, 0, 0)
    moved = lambda old, new: metric(payment, "orderstream_breaker_transitions_total",
                                    service="gateway", from_state=old, to_state=new)
    assert moved("closed", "open") >= 1 and moved("open", "half_open") >= 1
    assert moved("half_open", "closed") >= 1

    after = place(shop, 1)[0]  # the circuit is closed again: charged at the first attempt
    assert shop.settled(after)["status"] == "Preparing"
    trail = get(f"{shop.url('order')}/orders/{after}/events")[1]["events"]
    assert not [e for e in trail if e["type"] in ("GatewayOutcomeUnknown", "StepRetried")]
