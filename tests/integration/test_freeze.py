"""A replica frozen long enough to lose its partitions sends nothing it had queued before the
freeze: it exits first (README, bug 12). The worker here is Faust's producer as orderstream
starts it, in a process of its own, frozen with SIGSTOP while a record waits in its buffer; and
one whose start outlasts the limit, which is not frozen and must not exit."""

import signal
import subprocess
import sys
import time
import uuid

import pytest

from tests.integration.kafka_io import read_all

pytestmark = pytest.mark.kafka

# Session 4 s, heartbeat 1 s: a freeze of 2 s or more may have cost the partitions. The record
# lingers 0.5 s in the buffer. A worker's 1 s clock is left out: woken, the producer's sender
# must be the first to look (in the chaos run it ran before the clock's timer).
WORKER = """
import asyncio, sys
from orderstream.runtime.app import ContextApp

async def main(bootstrap, topic, case):
    app = ContextApp("freeze-test", broker=f"kafka://{bootstrap}", broker_session_timeout=4.0,
                     broker_heartbeat_interval=1.0, producer_linger=0.5)
    app.context = "freeze-test"
    await app.producer.start()
    await app.producer.create_topic(topic, 1, 1)  # as a worker declares its topics as it starts
    if case == "unfenced":
        del app.producer._producer.client.send  # aiokafka's own send, unchecked
    if case == "slow start":  # a worker's start (joining, recovery) outlasts the limit; no freeze
        await asyncio.sleep(3.0)
    else:
        app.thawed()  # the clock's last look before the freeze
    await app.producer.send(topic, b"k", b"queued before the freeze", None, None, None)
    print("queued", flush=True)
    await asyncio.sleep(60)

asyncio.run(main(*sys.argv[1:]))
"""


def run(bootstrap: str, topic: str, case: str) -> int | None:
    """Start the worker; unless it is the slow start, freeze it for 4 s while its record lingers
    and wake it. Its exit code, None if it still runs 10 s later."""
    proc = subprocess.Popen([sys.executable, "-c", WORKER, bootstrap, topic, case],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "queued"
        if case != "slow start":
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


CASES = {  # case: (exit code, what reached the topic)
    "fenced": (75, []),  # as every worker runs: it exits (ContextApp.thawed) and sends nothing
    "unfenced": (None, [b"queued before the freeze"]),  # the case the fence is for
    "slow start": (None, [b"queued before the freeze"]),  # no freeze: a slow start is no zombie
}


@pytest.mark.parametrize("case", CASES)
def test_a_replica_woken_from_a_freeze_exits_before_sending_what_it_had_queued(kafka_bootstrap, case):
    topic = f"freeze-{uuid.uuid4().hex[:8]}"
    code = run(kafka_bootstrap, topic, case)

    landed = read_all(kafka_bootstrap, topic, until=lambda records: bool(records), timeout=5.0)
    assert (code, [r.value for r in landed]) == CASES[case]
