"""A real worker process on the real broker: state survives SIGKILL, poison is dead-lettered,
missing topics and bad settings stop start-up with a clear message."""

import json
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.integration.http import eventually, get, metric, post
from tests.integration.kafka_io import produce, read_all

pytestmark = pytest.mark.kafka


def open_and_credit(url: str, account: str, amounts: list[int]) -> None:
    assert post(f"{url}/accounts", {"account_id": account, "customer_id": "c1", "currency": "EUR"})[0] == 202
    for amount in amounts:
        assert post(f"{url}/accounts/{account}/credit", {"amount": amount, "currency": "EUR"})[0] == 202


def balance(url: str, account: str) -> tuple[int, dict]:
    return get(f"{url}/accounts/{account}")


def tamper(datadir, key: bytes, old: bytes, new: bytes) -> bool:
    """Rewrite a row in a stopped worker's RocksDB files; True if the row was found."""
    from rocksdict import Options, Rdict

    found = False
    for path in datadir.glob("v*/tables/accounts-*.db"):
        db = Rdict(str(path), options=Options(raw_mode=True))
        try:
            if (raw := db.get(key)) is not None and old in raw:
                db[key], found = raw.replace(old, new), True
        finally:
            db.close()
    return found


def test_state_survives_sigkill_and_recovers_from_the_changelog(workers, env):
    worker = workers("account")
    open_and_credit(worker.url, "acc-1", [100, 250, 5])
    before = eventually(lambda: balance(worker.url, "acc-1"),
                        lambda r: r[0] == 200 and len(r[1]["transactions"]) == 3)[1]
    assert before["balance"] == 355

    worker.kill(signal.SIGKILL)
    # A row written to RocksDB whose changelog record the kill lost: it must not survive the
    # restart, or this replica would answer from a state no other replica can restore.
    assert tamper(env.root / "data" / "account", b"acc-1", b'"balance":355', b'"balance":999')
    worker.start()
    assert balance(worker.url, "acc-1") == (200, before)
    assert "did not stop cleanly; rebuilding its tables" in worker.log.read_text()

    worker.stop()  # SIGTERM: a clean stop keeps the tables, whose rows the changelog has
    worker.start()
    assert worker.log.read_text().count("did not stop cleanly") == 1
    assert balance(worker.url, "acc-1") == (200, before)

    worker.kill(signal.SIGKILL)
    shutil.rmtree(env.root / "data")  # the RocksDB files are gone: only the changelog is left
    worker.start()
    assert eventually(lambda: balance(worker.url, "acc-1"), lambda r: r[0] == 200) == (200, before)
    post(f"{worker.url}/accounts/acc-1/credit", {"amount": 45, "currency": "EUR"})
    assert eventually(lambda: balance(worker.url, "acc-1"),
                      lambda r: r[1].get("balance") == 400)[1]["balance"] == 400


def test_a_poison_message_is_dead_lettered_and_the_agent_goes_on(workers, env):
    worker = workers("account")
    settings = env.settings()
    commands, deadletter = settings.topic("account.commands"), settings.topic("account.deadletter")
    produce(env.bootstrap, commands, b"acc-2", b"{not json")
    produce(env.bootstrap, commands, b"acc-2", json.dumps({"type": "Teleport"}).encode())
    produce(env.bootstrap, commands, b"acc-2", json.dumps({"type": "CreditAccount", "account_id": "acc-2"}).encode())
    open_and_credit(worker.url, "acc-2", [70])
    assert eventually(lambda: balance(worker.url, "acc-2"), lambda r: r[1].get("balance") == 70)

    parked = read_all(env.bootstrap, deadletter, until=lambda rs: len(rs) >= 3)
    assert [r.value for r in parked] == [b"{not json", b'{"type": "Teleport"}',
                                         json.dumps({"type": "CreditAccount", "account_id": "acc-2"}).encode()]
    for record in parked:
        headers = dict(record.headers)
        assert headers["x-dlq-topic"] == commands.encode()
        assert headers["x-dlq-context"] == b"account"
        assert int(headers["x-dlq-offset"]) >= 0 and int(headers["x-dlq-partition"]) >= 0
        assert headers["x-dlq-at"]
    exceptions = [dict(r.headers)["x-dlq-exception"].decode() for r in parked]
    assert "not a JSON object" in exceptions[0]
    assert "unknown message type 'Teleport'" in exceptions[1]
    assert "message_id" in exceptions[2] and "Field required" in exceptions[2]

    # an operator sees the failures, the work and the empty queue on /metrics
    assert metric(worker.url, "orderstream_deadletters_total", context="account", topic=commands) == 3
    assert metric(worker.url, "orderstream_deadletters_total", error="ValidationError") == 1
    assert metric(worker.url, "orderstream_events_total", type="AccountCredited") == 1
    assert metric(worker.url, "orderstream_message_seconds_count", type="CreditAccount") == 1
    assert metric(worker.url, "orderstream_state_transitions_total", aggregate="accounts",
                  from_status="none", to_status="open") == 1
    assert eventually(lambda: metric(worker.url, "orderstream_queue_depth", topic=commands), lambda n: n == 0) == 0


def run_worker(env_vars: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orderstream.cli", "worker", "account"], env=env_vars,
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_a_worker_refuses_to_start_without_its_topics(env):
    result = run_worker(env.vars(ORDERSTREAM_NAMESPACE="nosuchtopics", ORDERSTREAM_WEB_PORT="6999"))
    assert result.returncode != 0
    assert "topics missing" in result.stderr + result.stdout
    assert "nosuchtopics.account.commands" in result.stderr + result.stdout
    assert "orderstream topics apply" in result.stderr + result.stdout


def test_a_bad_setting_stops_start_up_naming_it(env):
    result = run_worker(env.vars(ORDERSTREAM_TOPIC_PARTITIONS="zero", ORDERSTREAM_SAGA_MODE="chaos"))
    assert result.returncode != 0
    assert "ORDERSTREAM_TOPIC_PARTITIONS" in result.stderr
    assert "ORDERSTREAM_SAGA_MODE" in result.stderr and "orchestration" in result.stderr


def test_an_idle_worker_with_table_data_stays_live(workers):
    worker = workers("account", ORDERSTREAM_LIVENESS_STALL_SECONDS="5")
    open_and_credit(worker.url, "acc-3", [10])
    eventually(lambda: balance(worker.url, "acc-3"), lambda r: r[1].get("balance") == 10)
    time.sleep(7)  # idle past the stall window; the changelog holds data nobody needs to read
    assert get(f"{worker.url}/live") == (200, {"status": "live", "context": "account"})
    assert get(f"{worker.url}/health") == (200, {"status": "ready", "context": "account"})


def test_exactly_once_processing_works_with_the_pinned_kafka(workers):
    """processing_guarantee=exactly_once: Kafka transactions through aiokafka and Faust."""
    worker = workers("account", ORDERSTREAM_PROCESSING_GUARANTEE="exactly_once")
    open_and_credit(worker.url, "acc-4", [30, 12])
    eventually(lambda: balance(worker.url, "acc-4"), lambda r: r[1].get("balance") == 42)
    worker.kill(signal.SIGKILL)
    worker.start()
    post(f"{worker.url}/accounts/acc-4/credit", {"amount": 8, "currency": "EUR"})
    final = eventually(lambda: balance(worker.url, "acc-4"), lambda r: r[1].get("balance") == 50)[1]
    assert [t["amount"] for t in final["transactions"]] == [30, 12, 8]
