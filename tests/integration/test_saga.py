"""The order saga across six real worker processes and the real broker, in both saga modes.

Every scenario of the issue runs concurrently; outcomes are checked from each context's own
state (its tables, over its HTTP API) and from the simulator's ledger, not from test memory.
"""

import pytest

from orderstream.contracts.payment import card_ref
from tests.integration.http import eventually, get, post
from tests.integration.system import DECLINED_AMOUNT, NOWHERE, start_system

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("mode", ["orchestration", "choreography"])
def test_every_order_ends_right_and_the_books_balance(workers, simulator, mode):
    shop = start_system(workers, ORDERSTREAM_SAGA_MODE=mode, ORDERSTREAM_GATEWAY_URL=simulator,
                        ORDERSTREAM_CARRIER_URL=simulator)
    shop.product("pen", 100, price=250)
    shop.product("ink", 5, price=400)
    shop.product("last", 1, price=1000)
    shop.product("dud", 5, price=DECLINED_AMOUNT)
    accounts = {"rich": 100_000, "poor": 100, "racer1": 5000, "racer2": 5000, "canceller": 5000,
                "far": 5000}
    for account, balance in accounts.items():
        shop.account(account, balance)
    for account, balance in accounts.items():
        eventually(lambda a=account: shop.opened(a), lambda b, want=balance: b == want)
    eventually(lambda: get(f"{shop.url('catalog')}/products/last"), lambda r: r[0] == 200)

    orders = {
        "happy": shop.place("rich", [("pen", 2), ("ink", 1)]),
        "out_of_stock": shop.place("rich", [("pen", 1), ("ink", 50)]),
        "insufficient": shop.place("poor", [("pen", 4)]),
        "declined": shop.place("rich", [("dud", 1)], payment_method="card", card_token="tok_visa"),
        "card": shop.place("rich", [("pen", 1)], payment_method="card", card_token="tok_visa"),
        "undeliverable": shop.place("far", [("pen", 3)], address=NOWHERE),
        "race1": shop.place("racer1", [("last", 1)]),
        "race2": shop.place("racer2", [("last", 1)]),
        "cancelled": shop.place("canceller", [("pen", 5)]),
    }
    eventually(lambda: get(f"{shop.url('order')}/orders/{orders['cancelled']}"), lambda r: r[0] == 200)
    assert post(f"{shop.url('order')}/orders/{orders['cancelled']}/cancel", {"reason": "changed my mind"})[0] in (202, 409)
    final = {name: shop.settled(order_id) for name, order_id in orders.items()}
    status = {name: order["status"] for name, order in final.items()}

    assert status["happy"] == "Preparing" and status["card"] == "Preparing"
    assert status["out_of_stock"] == "OutOfStock"
    # a failure after a step succeeded passes through <Step>Failed while compensating, then ends
    # Cancelled with the reason (the seed's compensation flow: OrderCancelled(PaymentFailed))
    for name, failed, reason in (("insufficient", "PaymentFailed", "insufficient funds"),
                                 ("declined", "PaymentFailed", "card_declined"),
                                 ("undeliverable", "ShipmentFailed", "undeliverable")):
        assert status[name] == "Cancelled" and failed in final[name]["status_times"], final[name]
        assert reason in final[name]["reason"]
    assert status["cancelled"] in ("Cancelled", "Preparing")  # the cancel may lose the race with the saga
    assert sorted([status["race1"], status["race2"]]) == ["OutOfStock", "Preparing"]

    # the books, from each context's own state
    spent_pen = sum(q for name, q in (("happy", 2), ("card", 1)) if status[name] == "Preparing")
    spent_pen += 5 if status["cancelled"] == "Preparing" else 0
    # a reservation's release reaches its products just after the order hears of it
    for product_id, books in {"pen": (spent_pen, 100 - spent_pen), "ink": (1, 4), "last": (1, 0)}.items():
        eventually(lambda: shop.state("catalog", f"/products/{product_id}"),
                   lambda p: (p["reserved"], p["on_hand"]) == books, timeout=30)
    assert shop.balance("rich") == 100_000 - (2 * 250 + 400)  # card orders are not debited
    assert shop.balance("poor") == 100
    assert shop.balance("far") == 5000  # debited, then refunded after the shipment failed
    assert shop.balance("canceller") == (5000 if status["cancelled"] == "Cancelled" else 5000 - 1250)
    assert {shop.balance("racer1"), shop.balance("racer2")} == {4000, 5000}

    # the card gateway charged each card payment once; the declined one never
    ledger = get(f"{simulator}/v1/stats")[1]
    card = final["card"]
    assert ledger["charged_by_payment"].get(card["payment_id"]) == 250
    assert card["card_ref"] == card_ref("tok_visa") and "card_token" not in card  # never echoed
    assert final["declined"]["payment_id"] not in ledger["charged_by_payment"]

    # the carrier takes it from here: dispatch commits the stock, delivery ends the order
    shipment_id = final["happy"]["shipment_id"]
    for step in ("dispatched", "delivered"):
        assert post(f"{shop.url('shipment')}/shipments/{shipment_id}/status",
                    {"status": step, "location": "London"})[0] == 202
    delivered = eventually(lambda: get(f"{shop.url('order')}/orders/{orders['happy']}")[1],
                           lambda o: o["status"] == "Delivered")
    assert delivered["tracking_number"]
    ink = eventually(lambda: shop.state("catalog", "/products/ink"), lambda p: p["reserved"] == 0)
    assert ink["on_hand"] == 4

    trail = get(f"{shop.url('order')}/orders/{orders['undeliverable']}/events")[1]["events"]
    kinds = [e["type"] for e in trail]
    assert {"OrderCreated", "ItemsReserved", "PaymentSucceeded", "ShipmentFailed",
            "PaymentRefunded", "ReservationReleased"} <= set(kinds)
    assert {e["context"] for e in trail} >= {"order", "catalog", "payment", "shipment", "account"}
