"""The HTTP APIs of catalog, customer, payment and shipment on real workers and the real broker:
every endpoint, its bad input (400, 404, 413, 422 naming field and rule), state arriving
eventually, and bearer-token auth on mutating calls."""

import json
import threading
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orderstream.contracts.account import AccountCredited, AccountDebited
from orderstream.contracts.catalog import ReserveItems
from orderstream.contracts.common import Address, Item
from orderstream.contracts.envelope import Message
from orderstream.contracts.order import OrderConfirmed, OrderCreated, SagaPolicy
from orderstream.contracts.payment import ProcessPayment, RefundPayment
from orderstream.contracts.shipment import CreateShipment
from orderstream.runtime.codec import encode
from tests.integration.http import eventually, get, post
from tests.integration.kafka_io import produce, read_all, values

pytestmark = pytest.mark.kafka

ADDRESS = {"recipient": "Ada Lovelace", "line1": "1 Analytical Way", "city": "London",
           "postal_code": "N1 9GU", "country": "GB"}
NOW = datetime(2025, 5, 1, 12, tzinfo=UTC)


def new(cls: type[Message], **fields) -> Message:
    return cls.new(message_id=str(uuid.uuid4()), occurred_at=NOW, **fields)


def send(env, message: Message, context: str | None = None, key: str | None = None) -> None:
    """As another context would: straight onto the command topic of `context`, keyed by `key`
    (default: the message's own context and aggregate id)."""
    topic = env.settings().topic(f"{context or message.context}.commands")
    produce(env.bootstrap, topic, (key or message.key).encode(), encode(message))


def error(response: tuple[int, dict]) -> tuple[int, str | None, str | None]:
    status, body = response
    return status, body["error"].get("field"), body["error"].get("rule")


def state(url: str, condition=lambda body: True) -> dict:
    return eventually(lambda: get(url), lambda r: r[0] == 200 and condition(r[1]))[1]


def assert_body_rules(url: str, limit: int = 65536) -> None:
    """What every body-taking endpoint says to a malformed, oversized or non-object body."""
    assert error(post(url, b"{not json")) == (400, "body", "json")
    assert error(post(url, b"x" * (limit + 1))) == (413, "body", "max_bytes")
    assert error(post(url, [1, 2])) == (422, "body", "object")


def test_catalog_api(workers, env):
    url = workers("catalog").url
    product = {"product_id": "p-1", "sku": "SKU-1", "name": "Kettle", "price": 2499,
               "currency": "EUR", "on_hand": 10}
    request = urllib.request.Request(f"{url}/products", data=json.dumps(product).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202 and response.headers["Location"] == "/products/p-1"
        assert json.loads(response.read())["accepted"] == "RegisterProduct"
    body = state(f"{url}/products/p-1")
    assert (body["price"], body["currency"], body["on_hand"], body["reserved"]) == (2499, "EUR", 10, 0)

    accepted = post(f"{url}/products/p-1/stock", {"quantity": 7})
    assert accepted[0] == 202 and accepted[1]["accepted"] == "UpdateStock"
    assert accepted[1]["location"] == "/products/p-1"
    state(f"{url}/products/p-1", lambda b: b["on_hand"] == 7)

    assert get(f"{url}/products/p-1/availability?quantity=5") == (200, {
        "product_id": "p-1", "requested": 5, "available": 7, "ok": True})
    assert get(f"{url}/products/p-1/availability?quantity=8")[1]["ok"] is False
    assert error(get(f"{url}/products/p-1/availability")) == (422, "quantity", "missing")
    assert error(get(f"{url}/products/p-1/availability?quantity=0")) == (
        422, "quantity", "greater_than_equal")
    assert error(get(f"{url}/products/p-1/availability?quantity=two")) == (
        422, "quantity", "int_parsing")
    assert error(get(f"{url}/products/nope/availability?quantity=1")) == (404, "id", "unknown_id")

    send(env, new(ReserveItems, order_id="o-1", items=(Item(product_id="p-1", quantity=3),)))
    reservation = state(f"{url}/reservations/o-1", lambda b: b["status"] == "reserved")
    assert reservation["held"] == [{"product_id": "p-1", "quantity": 3, "unit_price": 2499}]
    assert reservation["currency"] == "EUR" and reservation["reservation_id"]
    assert state(f"{url}/products/p-1", lambda b: b["reserved"] == 3)["on_hand"] == 4
    assert get(f"{url}/products/p-1/availability?quantity=5")[1] == {
        "product_id": "p-1", "requested": 5, "available": 4, "ok": False}

    assert error(get(f"{url}/products/nope")) == (404, "id", "unknown_id")
    assert error(get(f"{url}/reservations/nope")) == (404, "id", "unknown_id")
    assert error(post(f"{url}/products", product | {"price": 24.99})) == (422, "price", "int_from_float")
    assert error(post(f"{url}/products", product | {"price": -1})) == (422, "price", "greater_than_equal")
    assert error(post(f"{url}/products", product | {"currency": "eur"})) == (
        422, "currency", "string_pattern_mismatch")
    assert error(post(f"{url}/products", product | {"colour": "red"})) == (422, "colour", "extra_forbidden")
    assert error(post(f"{url}/products", {k: v for k, v in product.items() if k != "sku"})) == (
        422, "sku", "missing")
    assert error(post(f"{url}/products/p-1/stock", {"quantity": -1})) == (
        422, "quantity", "greater_than_equal")
    assert error(post(f"{url}/products/{'x' * 101}/stock", {"quantity": 1})) == (
        422, "product_id", "string_too_long")
    assert_body_rules(f"{url}/products")
    assert_body_rules(f"{url}/products/p-1/stock")
    assert error(post(f"{url}/products/p-1")) == (405, None, None)

    doc = get(f"{url}/openapi.json")[1]
    params = doc["paths"]["/products/{product_id}/availability"]["get"]["parameters"]
    assert {"name": "quantity", "in": "query", "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 1_000_000}} in params
    assert "RegisterRequest" in doc["components"]["schemas"]


def test_customer_api(workers, env):
    url = workers("customer").url
    customer = {"customer_id": "c-1", "name": "Ada", "email": "ada@example.org"}
    assert post(f"{url}/customers", customer)[0] == 202
    body = state(f"{url}/customers/c-1")
    assert (body["name"], body["email"], body["status"]) == ("Ada", "ada@example.org", "active")
    assert get(f"{url}/customers/c-1/orders") == (200, {"customer_id": "c-1", "orders": []})

    assert post(f"{url}/customers/c-1/addresses", {"label": "home", "address": ADDRESS})[0] == 202
    assert state(f"{url}/customers/c-1", lambda b: "home" in b["addresses"])["addresses"]["home"] == (
        ADDRESS | {"line2": ""})
    assert post(f"{url}/customers/c-1/suspend", {"reason": "chargeback"})[0] == 202
    assert state(f"{url}/customers/c-1", lambda b: b["status"] == "suspended")[
        "suspension_reason"] == "chargeback"
    assert post(f"{url}/customers/c-1/reactivate")[1]["location"] == "/customers/c-1"
    state(f"{url}/customers/c-1", lambda b: b["status"] == "active")

    send(env, new(OrderCreated, order_id="o-1", customer_id="c-1", account_id="a-1",
                  items=(Item(product_id="p-1", quantity=2),), shipping_address=Address(**ADDRESS),
                  payment_method="account", policy=SagaPolicy(), step="reservation",
                  deadline=NOW + timedelta(seconds=10)), context="customer", key="c-1")
    send(env, new(OrderConfirmed, order_id="o-1", customer_id="c-1", step="dispatch", deadline=None,
                  tracking_number="TRK-1", total_amount=1000, currency="EUR"), context="customer", key="c-1")
    orders = eventually(lambda: get(f"{url}/customers/c-1/orders"),
                        lambda r: r[1]["orders"] and r[1]["orders"][0]["total_amount"])[1]
    assert [(o["order_id"], o["status"], o["total_amount"], o["currency"]) for o in orders["orders"]] == [
        ("o-1", "Preparing", 1000, "EUR")]

    assert error(get(f"{url}/customers/nope")) == (404, "id", "unknown_id")
    assert error(get(f"{url}/customers/nope/orders")) == (404, "id", "unknown_id")
    assert error(post(f"{url}/customers", customer | {"email": "not-an-email"})) == (
        422, "email", "string_pattern_mismatch")
    assert error(post(f"{url}/customers", customer | {"customer_id": ""})) == (
        422, "customer_id", "string_too_short")
    assert error(post(f"{url}/customers/c-1/addresses", {"label": "Home!", "address": ADDRESS})) == (
        422, "label", "string_pattern_mismatch")
    assert error(post(f"{url}/customers/c-1/addresses",
                      {"label": "home", "address": ADDRESS | {"country": "Britain"}})) == (
        422, "address.country", "string_pattern_mismatch")
    assert error(post(f"{url}/customers/c-1/suspend", {})) == (422, "reason", "missing")
    for path in ("/customers", "/customers/c-1/addresses", "/customers/c-1/suspend"):
        assert_body_rules(url + path)


def test_payment_api(workers, env):
    url = workers("payment").url
    terms = dict(payment_id="pay-1", order_id="o-1", account_id="a-1", amount=1500,
                 currency="EUR", payment_method="account")
    send(env, new(ProcessPayment, **terms))
    assert state(f"{url}/payments/pay-1", lambda b: b["status"] == "pending")["captured"] == 0

    send(env, new(AccountDebited, account_id="a-1", order_id="o-1", payment_id="pay-1",
                  transaction_id="tx-1", amount=1500, new_balance=500), "payment", "pay-1")
    body = state(f"{url}/payments/pay-1", lambda b: b["status"] == "succeeded")
    assert (body["captured"], body["charges"], body["transaction_id"]) == (1500, 1, "tx-1")
    assert (body["refunded"], body["refundable"], body["refunds"]) == (0, 1500, {})

    send(env, new(RefundPayment, payment_id="pay-1", refund_id="r-1", amount=400, reason="broken"))
    body = state(f"{url}/payments/pay-1", lambda b: "r-1" in b["refunds"])
    assert body["refunds"]["r-1"]["status"] == "pending" and body["refundable"] == 1100
    send(env, new(AccountCredited, account_id="a-1", credit_id="r-1", payment_id="pay-1",
                  transaction_id="tx-2", amount=400, new_balance=900, reason="refund"),
         "payment", "pay-1")
    body = state(f"{url}/payments/pay-1", lambda b: b["refunds"]["r-1"]["status"] == "refunded")
    assert (body["refunded"], body["refundable"]) == (400, 1100)
    assert "card_token" not in body

    assert error(get(f"{url}/payments/nope")) == (404, "id", "unknown_id")
    assert error(get(f"{url}/payments/{'x' * 300}")) == (404, "id", "unknown_id")
    assert error(post(f"{url}/payments/pay-1", {})) == (405, None, None)


class Carrier(BaseHTTPRequestHandler):
    """The carrier: every label request gets a tracking number."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"tracking_number": "TRK-1"}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def carrier():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Carrier)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_shipment_api(workers, env, carrier):
    url = workers("shipment", ORDERSTREAM_CARRIER_URL=carrier).url
    send(env, new(CreateShipment, shipment_id="s-1", order_id="o-1", address=Address(**ADDRESS),
                  items=(Item(product_id="p-1", quantity=1),)))
    body = state(f"{url}/shipments/s-1", lambda b: b["status"] == "created")
    assert (body["tracking_number"], body["carrier"], body["order_id"]) == ("TRK-1", "simulator", "o-1")

    status = f"{url}/shipments/s-1/status"
    assert post(status, {"status": "dispatched", "location": "Hub A"})[1]["location"] == "/shipments/s-1"
    assert state(f"{url}/shipments/s-1", lambda b: b["status"] == "dispatched")["location"] == "Hub A"
    assert post(status, {"status": "in_transit", "location": "Hub B"})[0] == 202
    assert state(f"{url}/shipments/s-1", lambda b: b["status"] == "in_transit")["location"] == "Hub B"
    assert post(status, {"status": "delivered"})[0] == 202
    assert state(f"{url}/shipments/s-1", lambda b: b["status"] == "delivered")["delivered_at"]

    assert post(status, {"status": "dispatched"})[0] == 202  # illegal now: the aggregate rejects it
    rejected = read_all(env.bootstrap, env.settings().topic("shipment.events"),
                        until=lambda rs: any(v["type"] == "ShipmentRejected" for v in values(rs)))
    assert [v["reason"] for v in values(rejected) if v["type"] == "ShipmentRejected"] == [
        "cannot go from delivered to dispatched"]
    assert get(f"{url}/shipments/s-1")[1]["status"] == "delivered"
    assert post(f"{url}/shipments/unknown/status", {"status": "delivered"})[0] == 202
    assert error(get(f"{url}/shipments/nope")) == (404, "id", "unknown_id")
    assert error(post(status, {"status": "lost"})) == (422, "status", "literal_error")
    assert error(post(status, {"status": "delivered", "location": "x" * 201})) == (
        422, "location", "string_too_long")
    assert error(post(status, {"location": "Hub"})) == (422, "status", "missing")
    assert_body_rules(status)


def test_a_token_guards_mutating_calls_and_reads_stay_open(workers):
    url = workers("customer", ORDERSTREAM_API_TOKEN="secret", ORDERSTREAM_API_READ_TOKEN="look").url
    customer = {"customer_id": "c-9", "name": "Grace", "email": "grace@example.org"}
    assert error(post(f"{url}/customers", customer)) == (401, "Authorization", "bearer_token")
    assert error(post(f"{url}/customers", customer, headers={"Authorization": "Bearer wrong"}))[0] == 401
    assert error(post(f"{url}/customers/c-9/reactivate", headers={"Authorization": "secret"}))[0] == 401
    assert error(post(f"{url}/customers", customer, headers={"Authorization": "Bearer look"})) == (
        403, "Authorization", "read_only_token")  # the read-only token may not write
    assert post(f"{url}/customers", customer, headers={"Authorization": "Bearer secret"})[0] == 202
    assert state(f"{url}/customers/c-9")["name"] == "Grace"
    assert get(f"{url}/openapi.json")[0] == 200
    documented = get(f"{url}/openapi.json")[1]["paths"]["/customers"]["post"]["responses"]
    assert {"401", "403"} <= set(documented)
