"""What the bench reads from outside the system under test: every topic's end offsets and the
CPU time of the processes (workers, simulator, broker, relays)."""

import os
import resource
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from orderstream.bench import stats
from orderstream.local import stack
from orderstream.runtime.kafka import admin, client_kwargs
from orderstream.settings import Settings

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


class Offsets:
    """End offsets of every topic on the cluster, internal ones (__consumer_offsets,
    __transaction_state) and Faust's changelogs included."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.admin = admin(settings)

    async def __aenter__(self) -> "Offsets":
        await self.admin.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.admin.close()

    async def snapshot(self) -> dict[str, int]:
        partitions = [TopicPartition(t["topic"], p["partition"]) for t in await self.admin.describe_topics()
                      if t["error_code"] == 0 for p in t["partitions"]]
        # a consumer per snapshot: one kept would go on asking for topics deleted since
        consumer = AIOKafkaConsumer(**client_kwargs(self.settings))
        await consumer.start()
        try:
            ends = await consumer.end_offsets(partitions) if partitions else {}
        finally:
            await consumer.stop()
        totals: dict[str, int] = {}
        for partition, end in ends.items():
            totals[partition.topic] = totals.get(partition.topic, 0) + end
        return totals


def stack_pids() -> dict[str, int]:
    """The processes `orderstream up` started in this directory: the six workers, the simulator
    and the broker (its pid file in var/kafka)."""
    pids = {name: pid for name in stack.processes() if (pid := stack.pid_of(name)) is not None}
    if (broker := stack.broker().pid()) is not None:
        pids["kafka"] = broker
    return pids


def cpu_ticks(pids: dict[str, int]) -> dict[str, int]:
    """utime + stime of each process still running."""
    ticks = {}
    for name, pid in pids.items():
        try:
            ticks[name] = stats.cpu_ticks(Path(f"/proc/{pid}/stat").read_text())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return ticks


def own_cpu_seconds() -> float:
    """CPU time of this process: the bench client's own cost, to see it is no bottleneck."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
