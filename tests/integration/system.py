"""The whole system for a test: the simulator and the six real workers on the real broker."""

import signal
import subprocess
import sys
from dataclasses import dataclass, field

from tests.conftest import ROOT, free_port, wait_http
from tests.integration.http import eventually, get, post

CONTEXTS = ("catalog", "customer", "account", "order", "payment", "shipment")
ADDRESS = {"recipient": "Ada Lovelace", "line1": "12 St James's Sq", "city": "London",
           "postal_code": "SW1Y 4JH", "country": "GB"}
NOWHERE = ADDRESS | {"country": "AQ"}  # the simulator's carrier refuses it
DECLINED_AMOUNT = 666                  # the simulator's gateway declines exactly this amount


@dataclass
class System:
    urls: dict[str, str] = field(default_factory=dict)
    workers: dict = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # e.g. the bearer token of the API

    def url(self, context: str) -> str:
        return self.workers[context].url

    def product(self, product_id: str, on_hand: int, price: int = 1000) -> None:
        status, body = post(f"{self.url('catalog')}/products", {
            "product_id": product_id, "sku": product_id.upper(), "name": product_id,
            "price": price, "currency": "EUR", "on_hand": on_hand}, headers=self.headers)
        assert status == 202, body

    def account(self, account_id: str, balance: int) -> None:
        assert post(f"{self.url('account')}/accounts", {"account_id": account_id, "customer_id": account_id,
                                                         "currency": "EUR"}, headers=self.headers)[0] == 202
        if balance:
            assert post(f"{self.url('account')}/accounts/{account_id}/credit",
                        {"amount": balance, "currency": "EUR"}, headers=self.headers)[0] == 202

    def place(self, account_id: str, lines: list[tuple[str, int]], address=ADDRESS, **extra) -> str:
        """An order for (product, quantity) lines: the catalog prices them."""
        status, body = post(f"{self.url('order')}/orders", {
            "customer_id": account_id, "account_id": account_id,
            "items": [{"product_id": p, "quantity": q} for p, q in lines],
            "shipping_address": address, **extra}, headers=self.headers)
        assert status == 202, body
        return body["order_id"]

    def settled(self, order_id: str, timeout: float = 90) -> dict:
        def fetch():
            return get(f"{self.url('order')}/orders/{order_id}?wait_for=settled&timeout=5",
                       headers=self.headers)
        return eventually(fetch, lambda r: r[0] == 200 and r[1]["settled"], timeout=timeout)[1]

    def state(self, context: str, path: str) -> dict:
        status, body = get(f"{self.url(context)}{path}", headers=self.headers)
        assert status == 200, (path, body)
        return body

    def balance(self, account_id: str) -> int:
        return self.state("account", f"/accounts/{account_id}")["balance"]

    def opened(self, account_id: str) -> int | None:
        """The balance once the account worker has the account (its POST answered 202 before
        the command was processed), None before."""
        status, body = get(f"{self.url('account')}/accounts/{account_id}", headers=self.headers)
        return body["balance"] if status == 200 else None


def start_simulator(tmp_path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(tmp_path / "simulator.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "orderstream.cli", "simulator", "--host", "127.0.0.1",
                             "--port", str(port), "--undeliverable-country", "AQ"],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", 30, proc)
    assert post(f"{url}/admin/config", {"decline_amounts": [DECLINED_AMOUNT]})[0] == 200
    return proc, url


def start_system(workers, contexts=CONTEXTS, headers: dict | None = None, **settings) -> System:
    system = System(headers=headers or {})
    for context in contexts:
        system.workers[context] = workers(context, wait=False, **settings)
    for worker in system.workers.values():
        worker.wait_ready()
    return system


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
