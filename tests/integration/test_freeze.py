"""A replica frozen long enough to lose its partitions sends nothing it had queued before the
freeze: it exits first (README, bug 12). The worker here is Faust's producer as orderstream
starts it, in a process of its own, frozen with SIGSTOP while a record waits in its buffer."""

import asyncio
import signal
import subprocess
import sys
import time
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.integration.kafka_io import read_all

pytestmark = pytest.mark.kafka

# Session 4 s, heartbeat 1 s: a freeze of 2 s or more may have cost the partitions. The record
# lingers 0.5 s in the buffer. A worker's 1 s clock is left out: woken, the producer's sender
# must be the first to look (in the chaos run it ran before the clock's timer).
WORKER = """
import asyncio, sys
from orderstream.runtime.app import ContextApp

async def main(bootstrap, topic, fenced):
    app = ContextApp("freeze-test", broker=f"kafka://{bootstrap}", broker_session_timeout=4.0,
                     broker_heartbeat_interval=1.0, producer_linger=0.5)
    app.context = "freeze-test"
    await app.producer.start()
    if not fenced:
        del app.producer._producer.client.send  # aiokafka's own send, unchecked
    app.thawed()  # the clock's last look before the freeze
    await app.producer.send(topic, b"k", b"queued before the freeze", None, None, None)
    print("queued", flush=True)
    await asyncio.sleep(60)

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] == "fenced"))
"""


def create(bootstrap: str, topic: str) -> None:
    async def run() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, 1, 1)])
        finally:
            await admin.close()

    asyncio.run(run())


def freeze(bootstrap: str, topic: str, fenced: bool) -> int | None:
    """Start the worker, freeze it for 4 s while its record lingers, wake it: its exit code
    (None: still running 10 s later)."""
    proc = subprocess.Popen([sys.executable, "-c", WORKER, bootstrap, topic, "fenced" if fenced else "open"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "queued"
        proc.send_signal(signal.SIGSTOP)
        time.sleep(4.0)
        proc.send_signal(signal.SIGCONT)
        try:
            return proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return None
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("fenced", [True, False], ids=["fenced", "unfenced"])
def test_a_replica_woken_from_a_freeze_exits_before_sending_what_it_had_queued(kafka_bootstrap, fenced):
    """Fenced (as every worker runs), the record queued before the freeze never reaches Kafka.
    Unfenced (aiokafka's send restored), the same freeze lands it: the case the fence is for."""
    topic = f"freeze-{uuid.uuid4().hex[:8]}"
    create(kafka_bootstrap, topic)

    assert freeze(kafka_bootstrap, topic, fenced) == (75 if fenced else None)  # ContextApp.thawed's exit

    landed = read_all(kafka_bootstrap, topic, until=lambda records: bool(records), timeout=5.0)
    assert [r.value for r in landed] == ([] if fenced else [b"queued before the freeze"])
