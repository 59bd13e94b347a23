"""The order API as a shop front uses it: idempotent placement, long-poll, cancel, return,
the audit trail and its page, and bad input answered with the field and the rule."""

import threading
import time
import urllib.request

import pytest

from tests.integration.http import call, eventually, get, metric, post
from tests.integration.system import ADDRESS, start_system

pytestmark = pytest.mark.kafka


@pytest.fixture
def shop(workers, simulator):
    return start_system(workers, ORDERSTREAM_GATEWAY_URL=simulator, ORDERSTREAM_CARRIER_URL=simulator,
                        ORDERSTREAM_API_TOKEN="s3cret")


AUTH = {"Authorization": "Bearer s3cret"}


def order_body(**overrides) -> dict:
    return {"customer_id": "zoe", "account_id": "zoe", "shipping_address": ADDRESS,
            "items": [{"product_id": "cup", "quantity": 1}]} | overrides


def test_the_order_api_end_to_end(shop):
    orders = shop.url("order")
    for path, body in (("/products", {"product_id": "cup", "sku": "CUP", "name": "Cup", "price": 700,
                                      "currency": "EUR", "on_hand": 10}),):
        assert post(shop.url("catalog") + path, body, headers=AUTH)[0] == 202
    assert post(shop.url("account") + "/accounts", {"account_id": "zoe", "customer_id": "zoe",
                                                    "currency": "EUR"}, headers=AUTH)[0] == 202
    assert post(shop.url("account") + "/accounts/zoe/credit", {"amount": 5000, "currency": "EUR"},
                headers=AUTH)[0] == 202
    eventually(lambda: get(shop.url("account") + "/accounts/zoe"), lambda r: r[1].get("balance") == 5000)
    eventually(lambda: get(shop.url("catalog") + "/products/cup"), lambda r: r[0] == 200)

    # no token, no order; 20 concurrent POSTs with one Idempotency-Key are one order, placed once
    assert post(f"{orders}/orders", order_body())[0] == 401
    key = {"Idempotency-Key": "zoe-checkout-1"} | AUTH
    answers: list = []
    posts = [threading.Thread(target=lambda: answers.append(post(f"{orders}/orders", order_body(), headers=key)))
             for _ in range(20)]
    for thread in posts:
        thread.start()
    for thread in posts:
        thread.join()
    assert {status for status, _ in answers} == {202} and len({a["order_id"] for _, a in answers}) == 1
    order_id = answers[0][1]["order_id"]

    # a long-poll returns the moment the order settles, with the final state
    answer = {}
    poller = threading.Thread(target=lambda: answer.update(
        result=get(f"{orders}/orders/{order_id}?wait_for=settled&timeout=60"), at=time.monotonic()))
    poller.start()
    poller.join(timeout=90)
    status, order = answer["result"]
    assert status == 200 and order["settled"] and order["status"] == "Preparing"
    assert order["total_amount"] == 700 and order["tracking_number"] and "waited" not in order
    assert order["lines"] == [{"product_id": "cup", "quantity": 1, "unit_price": 700}]  # the catalog's
    assert shop.balance("zoe") == 4300  # charged once for the 20 identical POSTs
    for before, after in (("none", "Pending"), ("Pending", "PaymentProcessing"), ("PaymentConfirmed", "Preparing")):
        assert metric(orders, "orderstream_state_transitions_total", aggregate="orders",
                      from_status=before, to_status=after) == 1, (before, after)
    history = eventually(lambda: get(shop.url("customer") + "/customers/zoe/orders")[1],
                         lambda h: h.get("orders"))
    assert [o["order_id"] for o in history["orders"]] == [order_id]

    # illegal actions in the current state: 409 naming the rule
    status, body = post(f"{orders}/orders/{order_id}/return", {"reason": "too small"}, headers=AUTH)
    assert status == 409 and body["error"]["rule"] == "returnable"

    # deliver, then return it: refunded, and Returned
    shipment = f"{shop.url('shipment')}/shipments/{order['shipment_id']}/status"
    for step in ("dispatched", "delivered"):
        assert post(shipment, {"status": step, "location": "Paris"}, headers=AUTH)[0] == 202
    eventually(lambda: get(f"{orders}/orders/{order_id}")[1], lambda o: o["status"] == "Delivered")
    assert post(f"{orders}/orders/{order_id}/cancel", {"reason": "late"}, headers=AUTH)[0] == 409
    assert post(f"{orders}/orders/{order_id}/return", {"reason": "too small"}, headers=AUTH)[0] == 202
    returned = eventually(lambda: get(f"{orders}/orders/{order_id}?wait_for=Returned&timeout=10")[1],
                          lambda o: o["status"] == "Returned")
    assert returned["refund_id"]
    assert eventually(lambda: shop.balance("zoe"), lambda b: b == 5000) == 5000
    cup = eventually(lambda: get(shop.url("catalog") + "/products/cup")[1], lambda p: p["on_hand"] == 10)
    assert (cup["reserved"], cup["shipped"]) == (0, 0)  # the returned cup is back on the shelf

    # the audit trail and its page; the 19 duplicate POSTs left no trace in it
    events = get(f"{orders}/orders/{order_id}/events")[1]["events"]
    assert {"OrderCreated", "ItemsReserved", "AccountDebited", "PaymentSucceeded", "ShipmentCreated",
            "ShipmentDelivered", "OrderReturned", "ProductRestocked"} <= {e["type"] for e in events}
    counts = {kind: sum(e["type"] == kind for e in events) for kind in ("OrderCreated", "ProductReserved",
                                                                      "AccountDebited")}
    assert counts == {"OrderCreated": 1, "ProductReserved": 1, "AccountDebited": 1}, counts
    assert [e["occurred_at"] for e in events] == sorted(e["occurred_at"] for e in events)
    with urllib.request.urlopen(f"{orders}/orders/{order_id}/view", timeout=30) as page:
        html = page.read().decode()
    assert page.headers.get_content_type() == "text/html"
    assert order_id in html and "PaymentSucceeded" in html and "ShipmentDelivered" in html

    # bad input: the field and the rule, never a 5xx
    cases = [
        (b"{not json", 400, "body"),
        (order_body(items=[]), 422, "items"),
        (order_body(items=[{"product_id": "cup", "quantity": 0}]), 422, "items.0.quantity"),
        (order_body(items=[{"product_id": "cup", "quantity": 1, "unit_price": 1}]), 422, "items.0.unit_price"),
        (order_body(currency="EUR"), 422, "currency"),
        (order_body(payment_method="card"), 422, "card_token"),
        (order_body(shipping_address=ADDRESS | {"country": "France"}), 422, "shipping_address.country"),
        (order_body(extra="x"), 422, "extra"),
        (b"{" + b'"a":"' + b"x" * 70_000 + b'"}', 413, "body"),
    ]
    for body, status, field in cases:
        got = post(f"{orders}/orders", body, headers=AUTH)
        assert got[0] == status and got[1]["error"]["field"] == field, (body[:80], got)
        if field in ("items.0.unit_price", "currency"):  # nobody sets their own price
            assert got[1]["error"]["rule"] == "set_by_catalog" and "catalog" in got[1]["error"]["message"]
    for path in ("/orders/nope", "/orders/nope/events", "/orders/nope/view"):
        status, body = get(f"{orders}{path}")
        assert (status, body["error"]["field"]) == (404, "id"), path
    assert post(f"{orders}/orders/nope/cancel", {"reason": "x"}, headers=AUTH)[0] == 404
    status, body = call("DELETE", f"{orders}/orders/{order_id}", headers=AUTH)
    assert status == 405 and "DELETE" in body["error"]["message"]  # JSON, like every error
    assert get(f"{orders}/orders/{order_id}?wait_for=settled&timeout=soon")[0] == 422


@pytest.mark.parametrize("mode", ["orchestration", "choreography"])
def test_an_order_can_be_cancelled_the_moment_it_is_accepted(workers, simulator, mode):
    shop = start_system(workers, ORDERSTREAM_SAGA_MODE=mode, ORDERSTREAM_GATEWAY_URL=simulator,
                        ORDERSTREAM_CARRIER_URL=simulator)
    shop.product("cup", 20, price=700)
    shop.account("zoe", 100_000)
    eventually(lambda: shop.opened("zoe") if get(shop.url("catalog") + "/products/cup")[0] == 200 else 0,
               lambda balance: balance == 100_000)
    orders = shop.url("order")
    cancelled = []
    for _ in range(5):  # the cancel is sent before the order worker can have seen the order
        order_id = post(f"{orders}/orders", order_body())[1]["order_id"]
        status, body = post(f"{orders}/orders/{order_id}/cancel", {"reason": "changed my mind"})
        assert status == 202, body
        cancelled.append(order_id)
    for order_id in cancelled:
        order = shop.settled(order_id)
        assert order["status"] == "Cancelled" and "changed my mind" in order["reason"]
    # in choreography the payment context may charge after the cancel (it reacts to the
    # reservation, not to the order); the order then gives that money back
    assert eventually(lambda: shop.balance("zoe"), lambda balance: balance == 100_000) == 100_000
    cup = eventually(lambda: get(shop.url("catalog") + "/products/cup")[1], lambda p: p["reserved"] == 0)
    assert cup["on_hand"] == 20
