"""The whole system on one machine: Kafka, topics, the simulator and six workers, in the background.

State lives under var/ in the working directory: var/kafka (broker), var/run (pid files),
var/log (one log per process), var/data (RocksDB per context).
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from orderstream.local.kafka import Broker, alive
from orderstream.runtime import topics
from orderstream.settings import CONTEXTS, DEFAULT_PORTS, SIMULATOR_PORT, Settings

VAR = Path("var")


def broker() -> Broker:
    return Broker(VAR / "kafka", int(os.environ.get("ORDERSTREAM_KAFKA_PORT", "9092")))


def processes() -> dict[str, list[str]]:
    exe = [sys.executable, "-m", "orderstream.cli"]
    procs = {"simulator": exe + ["simulator", "--host", "127.0.0.1", "--port", str(SIMULATOR_PORT)]}
    return procs | {ctx: exe + ["worker", ctx] for ctx in CONTEXTS}


def pid_of(name: str) -> int | None:
    try:
        pid = int((VAR / "run" / f"{name}.pid").read_text())
    except (FileNotFoundError, ValueError):
        return None
    return pid if alive(pid) else None


def spawn(name: str, argv: list[str]) -> str:
    if (pid := pid_of(name)) is not None:
        return f"{name}: already running (pid {pid})"
    (VAR / "run").mkdir(parents=True, exist_ok=True)
    (VAR / "log").mkdir(parents=True, exist_ok=True)
    with open(VAR / "log" / f"{name}.log", "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    (VAR / "run" / f"{name}.pid").write_text(str(proc.pid))
    return f"{name}: started (pid {proc.pid}, log {VAR / 'log' / f'{name}.log'})"


def stop_process(name: str, timeout: float = 30.0) -> str | None:
    pid = pid_of(name)
    (VAR / "run" / f"{name}.pid").unlink(missing_ok=True)
    if pid is None:
        return None
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.2)
    if alive(pid):
        os.killpg(pid, signal.SIGKILL)
    return f"{name}: stopped (pid {pid})"


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def wait_healthy(urls: dict[str, str], timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    waiting = dict(urls)
    while waiting and time.monotonic() < deadline:
        waiting = {name: url for name, url in waiting.items() if not healthy(url)}
        time.sleep(0.5)
    return sorted(waiting)


def health_urls() -> dict[str, str]:
    urls = {ctx: f"http://127.0.0.1:{port}/health" for ctx, port in DEFAULT_PORTS.items()}
    return urls | {"simulator": f"http://127.0.0.1:{SIMULATOR_PORT}/health"}


def up(settings: Settings) -> int:
    print(broker().start())
    for change in asyncio.run(topics.apply(settings)):
        print("topics:", change)
    for name, argv in processes().items():
        print(spawn(name, argv))
    late = wait_healthy(health_urls(), timeout=180)
    if late:
        print(f"not healthy after 180s: {', '.join(late)}; see var/log/<name>.log", file=sys.stderr)
        return 1
    print(demo(settings))
    print(summary())
    return 0


DEMO_PRODUCTS = [("sku-pen", "Fountain pen", 2500, 50), ("sku-ink", "Ink, blue", 900, 200),
                 ("sku-pad", "Notebook A5", 1200, 100), ("sku-lamp", "Desk lamp", 4900, 5)]
DEMO_CUSTOMERS = [("ada", "Ada Lovelace", 100_000), ("alan", "Alan Turing", 2_000)]
DEMO_ADDRESS = {"recipient": "Ada Lovelace", "line1": "12 St James's Square", "city": "London",
                "postal_code": "SW1Y 4JH", "country": "GB"}


def demo(settings: Settings) -> str:
    """A small demo catalog, customers and their accounts (idempotent: same ids every time)."""
    token = settings.api_token.get_secret_value() if settings.api_token else None
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    calls = [("catalog", "/products", {"product_id": pid, "sku": pid, "name": name, "price": price,
                                       "currency": "EUR", "on_hand": stock}, f"demo-{pid}")
             for pid, name, price, stock in DEMO_PRODUCTS]
    for cid, name, balance in DEMO_CUSTOMERS:
        calls += [("customer", "/customers", {"customer_id": cid, "name": name,
                                              "email": f"{cid}@example.com"}, f"demo-c-{cid}"),
                  ("customer", f"/customers/{cid}/addresses",
                   {"label": "home", "address": DEMO_ADDRESS | {"recipient": name}}, f"demo-addr-{cid}"),
                  ("account", "/accounts", {"account_id": cid, "customer_id": cid, "currency": "EUR"},
                   f"demo-a-{cid}"),
                  ("account", f"/accounts/{cid}/credit", {"amount": balance, "currency": "EUR",
                                                          "reason": "demo top-up"}, f"demo-credit-{cid}")]
    for context, path, body, key in calls:
        request = urllib.request.Request(f"http://127.0.0.1:{DEFAULT_PORTS[context]}{path}", method="POST",
                                         data=json.dumps(body).encode(),
                                         headers=headers | {"Idempotency-Key": key})
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"demo data: POST {context} {path} -> {error.code} {error.read()!r}") from None
    return (f"demo data: products {', '.join(p[0] for p in DEMO_PRODUCTS)}; "
            f"customers/accounts {', '.join(c[0] for c in DEMO_CUSTOMERS)}")


def down() -> int:
    for name in reversed(list(processes())):
        if (line := stop_process(name)) is not None:
            print(line)
    print(broker().stop())
    return 0


def summary() -> str:
    lines = ["", "orderstream is up:", f"  kafka      {broker().bootstrap}"]
    lines += [f"  {ctx:<10} http://127.0.0.1:{port}" for ctx, port in DEFAULT_PORTS.items()]
    lines += [f"  simulator  http://127.0.0.1:{SIMULATOR_PORT}", "  logs       var/log/", "  stop with  make down"]
    return "\n".join(lines)
