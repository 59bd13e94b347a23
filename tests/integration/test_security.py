"""orderstream on a broker that demands SASL_SSL (SCRAM-SHA-512) and ACLs, with one Kafka user
per context: the saga runs in both modes, a wrong password or a missing ACL stops a worker at
start-up in one line, a context cannot write what its ACLs do not grant, rotating one context's
password touches only that context, and no secret reaches a log or a topic."""

import asyncio
import secrets
import subprocess
import sys
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import TopicAuthorizationFailedError

from orderstream.runtime import acls, topics
from orderstream.runtime.kafka import admin, client_kwargs
from tests.conftest import ROOT
from tests.integration.http import eventually, get, post
from tests.integration.system import NOWHERE, start_system

pytestmark = [pytest.mark.kafka, pytest.mark.xdist_group("secure-broker")]  # one secure broker per run

WRITE_TOKEN, READ_TOKEN = secrets.token_hex(16), secrets.token_hex(16)
TOKENS = {"ORDERSTREAM_API_TOKEN": WRITE_TOKEN, "ORDERSTREAM_API_READ_TOKEN": READ_TOKEN,
          "ORDERSTREAM_AUTH_READS": "true"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("mode", ["orchestration", "choreography"])
def test_the_saga_runs_over_sasl_ssl_with_one_user_per_context(mode, secure_env, secure_workers,
                                                                secure_kafka, simulator):
    secure_env.extra["ORDERSTREAM_SAGA_MODE"] = mode  # the ACLs follow the saga mode
    asyncio.run(topics.apply(secure_env.settings()))
    shop = start_system(secure_workers, headers=bearer(WRITE_TOKEN), ORDERSTREAM_GATEWAY_URL=simulator,
                        ORDERSTREAM_CARRIER_URL=simulator, **TOKENS)
    shop.product("pen", 50, price=250)
    shop.account("rich", 100_000)
    shop.account("far", 5000)
    eventually(lambda: get(f"{shop.url('account')}/accounts/far", headers=bearer(READ_TOKEN)),
               lambda r: r[0] == 200 and r[1]["balance"] == 5000)
    card_token = f"tok_{uuid.uuid4().hex}"
    orders = {"account": shop.place("rich", [("pen", 2)]),
              "card": shop.place("rich", [("pen", 1)], payment_method="card", card_token=card_token),
              "again": shop.place("rich", [("pen", 1)]),
              "undeliverable": shop.place("far", [("pen", 3)], address=NOWHERE)}
    final = {name: shop.settled(order_id) for name, order_id in orders.items()}
    assert {name: order["status"] for name, order in final.items()} == {
        "account": "Preparing", "card": "Preparing", "again": "Preparing", "undeliverable": "Cancelled"}
    assert "ShipmentFailed" in final["undeliverable"]["status_times"]  # compensated: refund, release
    eventually(lambda: shop.balance("far"), lambda b: b == 5000)
    trail = get(f"{shop.url('order')}/orders/{orders['undeliverable']}/events", headers=bearer(READ_TOKEN))
    assert {e["context"] for e in trail[1]["events"]} >= {"order", "catalog", "account", "payment", "shipment"}

    order_url = f"{shop.url('order')}/orders/{orders['account']}"
    assert get(order_url)[0] == 401
    assert get(order_url, headers=bearer(READ_TOKEN))[0] == 200
    refused = post(f"{order_url}/cancel", {"reason": "x"}, headers=bearer(READ_TOKEN))
    assert refused[0] == 403 and refused[1]["error"]["rule"] == "read_only_token"

    old_passwords = rotate_one_context(shop, secure_env, secure_workers, secure_kafka, simulator) \
        if mode == "orchestration" else []
    for worker in shop.workers.values():
        worker.stop()
    assert_no_secret_anywhere(secure_env, secure_kafka, card_token, old_passwords, seen=orders["card"])


def rotate_one_context(shop, env, workers, broker, simulator: str) -> list[str]:
    """A new password for payment's user: payment restarted with the old one stops at start-up,
    with the new one it works; the other five workers run on untouched throughout. Returns the
    old password."""
    others = {c: w.proc.pid for c, w in shop.workers.items() if c != "payment"}
    old = env.users["payment"]
    user = old["ORDERSTREAM_KAFKA_SASL_USERNAME"]
    shop.workers["payment"].stop()
    broker.rotate(user)
    refused = workers("payment", wait=False, replica="-old", **TOKENS)
    assert refused.proc.wait(timeout=60) == 3
    assert f"refused the login of user {user!r}" in refused.log.read_text()
    env.users["payment"] = broker.credentials(user)
    assert env.users["payment"]["ORDERSTREAM_KAFKA_SASL_PASSWORD"] != old["ORDERSTREAM_KAFKA_SASL_PASSWORD"]
    shop.workers["payment"] = workers("payment", ORDERSTREAM_GATEWAY_URL=simulator, **TOKENS)
    assert shop.settled(shop.place("rich", [("pen", 1)]))["status"] == "Preparing"
    assert {c: w.proc.pid for c, w in shop.workers.items() if c != "payment"} == others
    assert all(w.proc.poll() is None for w in shop.workers.values())
    return [old["ORDERSTREAM_KAFKA_SASL_PASSWORD"]]


def assert_no_secret_anywhere(env, broker, card_token: str, old_passwords: list[str], seen: str) -> None:
    """No password, API token or card token in any worker's log nor on any topic of the
    namespace (the edge keeps only the card's reference: see tests/unit/test_secrets.py).
    `seen` is a value the topics do hold: the grep reads payloads."""
    passwords = {f"{user} password": login["ORDERSTREAM_KAFKA_SASL_PASSWORD"] for user, login in env.users.items()}
    passwords["admin password"] = broker.password("admin")
    passwords |= {f"old password {i}": password for i, password in enumerate(old_passwords)}
    secrets_ = passwords | {"write token": WRITE_TOKEN, "read token": READ_TOKEN, "card token": card_token}
    logs = sorted(env.root.glob("*.log"))
    assert {p.name for p in logs} >= {f"{c}.log" for c in env.users}
    in_logs = [(name, log.name) for log in logs if log.name != "simulator.log"
               for name, secret in secrets_.items()
               if secret in log.read_text(errors="replace")]
    assert in_logs == []
    records = read_namespace(env)
    assert len(records) > 100 and any(seen.encode() in blob for _, blob in records)
    on_topics = [(name, topic) for topic, blob in records for name, secret in secrets_.items()
                 if secret.encode() in blob]
    assert on_topics == []


def read_namespace(env) -> list[tuple[str, bytes]]:
    """Every record (key, value and headers) of every topic of the test's namespace."""
    settings = env.settings()

    async def run() -> list[tuple[str, bytes]]:
        client = admin(settings)
        await client.start()
        try:
            names = [t for t in await client.list_topics() if t.startswith(f"{env.namespace}.")]
            partitions = [TopicPartition(t["topic"], p["partition"]) for t in await client.describe_topics(names)
                          for p in t["partitions"]]
        finally:
            await client.close()
        consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **client_kwargs(settings))
        await consumer.start()
        try:
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            found: list[tuple[str, bytes]] = []
            pending = {tp for tp, end in ends.items() if end > 0}
            for _ in range(200):
                if not pending:
                    break
                for tp, batch in (await consumer.getmany(timeout_ms=300)).items():
                    for r in batch:
                        found.append((tp.topic, (r.key or b"") + (r.value or b"") +
                                      b"".join(k.encode() + v for k, v in r.headers or ())))
                    if batch and batch[-1].offset + 1 >= ends[tp]:
                        pending.discard(tp)
            assert not pending, f"could not read to the end of {sorted(tp.topic for tp in pending)}"
            return found
        finally:
            await consumer.stop()

    return asyncio.run(run())


def start_worker(env, context: str, **overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orderstream.cli", "worker", context],
                          env=env.vars(context, ORDERSTREAM_WEB_PORT="6999", **overrides), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_a_wrong_password_stops_a_worker_at_start_up_in_one_line(secure_env):
    wrong = f"wrong-{secrets.token_hex(8)}"
    result = start_worker(secure_env, "account", ORDERSTREAM_KAFKA_SASL_PASSWORD=wrong)
    assert result.returncode == 3
    user = secure_env.users["account"]["ORDERSTREAM_KAFKA_SASL_USERNAME"]
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert lines == [f"orderstream account: Kafka at {secure_env.bootstrap} refused the login of user "
                     f"{user!r} (SCRAM-SHA-512): wrong user name or password; check "
                     "ORDERSTREAM_KAFKA_SASL_USERNAME and ORDERSTREAM_KAFKA_SASL_PASSWORD"]
    assert wrong not in result.stderr


def test_a_missing_acl_stops_the_worker_naming_it_and_apply_restores_it(secure_env):
    settings = secure_env.settings()
    user = f"User:{settings.kafka_user('order')}"
    shipments = settings.topic("shipment.commands")
    taken = acls.Acl(user, acls.Need("topic", shipments, "write"))
    extra = acls.Acl(f"User:{settings.kafka_user('shipment')}",
                     acls.Need("topic", settings.topic("payment.commands"), "write"))
    asyncio.run(change_acls(settings, remove=[taken], add=[extra]))

    result = start_worker(secure_env, "order")
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"orderstream order: Kafka user {settings.kafka_user('order')!r} may not WRITE topic {shipments}; "
        f"grant it with `orderstream topics apply` run as a Kafka admin user (the ACLs of user "
        f"{settings.kafka_user('order')!r} are in topics/topics.toml)"]

    checked = cli(secure_env, "topics", "check")
    assert checked.returncode == 1
    assert checked.stdout.strip().splitlines() == [f"acl missing: {taken}", f"acl not in the spec: {extra}"]
    applied = cli(secure_env, "topics", "apply")
    assert applied.stdout.strip().splitlines() == [f"acl granted: {taken}", f"acl removed: {extra}"]
    assert cli(secure_env, "topics", "check").returncode == 0
    again = cli(secure_env, "topics", "apply")
    assert again.stdout.strip() == "topics: up to date"


def test_the_shipment_user_cannot_write_payment_commands(secure_env):
    shipment = secure_env.settings("shipment")
    assert shipment.kafka_sasl_username == shipment.kafka_user("shipment")

    async def produce(topic: str) -> None:
        producer = AIOKafkaProducer(**client_kwargs(shipment))
        await producer.start()
        try:
            await producer.send_and_wait(topic, b'{"type": "RefundPayment"}', key=b"p1")
        finally:
            await producer.stop()

    with pytest.raises(TopicAuthorizationFailedError) as refused:
        asyncio.run(produce(shipment.topic("payment.commands")))
    assert shipment.topic("payment.commands") in str(refused.value)
    asyncio.run(produce(shipment.topic("order.commands")))  # what it may write, it can


async def change_acls(settings, remove: list, add: list) -> None:
    client = admin(settings)
    await client.start()
    try:
        await client._send_request(acls._DeleteAcls(remove))
        await client._send_request(acls._CreateAcls(add))
        principals = sorted({a.principal for a in remove + add})
        while True:  # the broker applies ACL changes a moment after it accepts them
            now = set(await acls.current(client, principals))
            if not (set(remove) & now) and set(add) <= now:
                return
            await asyncio.sleep(0.2)
    finally:
        await client.close()


def cli(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orderstream.cli", *args], env=env.vars(),
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_exactly_once_needs_only_the_contexts_own_transactional_ids(secure_env, secure_workers):
    secure_env.extra["ORDERSTREAM_PROCESSING_GUARANTEE"] = "exactly_once"
    applied = asyncio.run(topics.apply(secure_env.settings()))
    app = secure_env.settings().topic("orderstream-account")
    assert f"acl granted: User:{app} may WRITE transactional_id {app}-*" in applied
    worker = secure_workers("account")
    for path, body in (("/accounts", {"account_id": "a1", "customer_id": "c1", "currency": "EUR"}),
                       ("/accounts/a1/credit", {"amount": 42, "currency": "EUR"})):
        assert post(f"{worker.url}{path}", body)[0] == 202
    eventually(lambda: get(f"{worker.url}/accounts/a1"), lambda r: r[1].get("balance") == 42)
