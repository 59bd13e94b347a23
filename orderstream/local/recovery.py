"""`orderstream chaos recovery`: how long a context takes to come back.

- failover: two replicas of a context with table_standby_replicas=1, orders flowing at a steady
  pace; one replica is SIGKILLed. Reported: the latency of the orders before the kill, and how
  long after the kill the orders it held up were all settled (orders flow again). The dead
  replica's partitions move only once the group gives up on it (the 20 s session timeout); with
  a standby, the survivor has their tables warm and replays no changelog.
- changelog recovery: the catalog's product table filled with N rows (RegisterProduct sent
  straight to its command topic), then the worker started on an empty data directory, so its
  table is rebuilt from the changelog, and once more on the data it left, which needs no replay.
  The difference, scaled linearly to 100,000 rows, is the replay cost (an extrapolation from N).
"""

import asyncio
import random
import shutil
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import murmur2

from orderstream.contracts.catalog import RegisterProduct
from orderstream.contracts.ids import payment_id_for, shipment_id_for
from orderstream.local import system as local, workload
from orderstream.local.kafka import Broker
from orderstream.runtime.codec import encode, headers
from orderstream.runtime.kafka import client_kwargs
from orderstream.runtime.topics import changelog
from orderstream.settings import Settings


@dataclass
class Recovery:
    context: str
    orders: int
    baseline_p50: float
    baseline_p99: float
    killed: str
    failover_seconds: float
    per_partition: dict[int, float]
    aggregates: int
    replay_seconds: float
    start_with_data_seconds: float
    per_100k_seconds: float
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join([
            f"failover ({self.context}, 2 replicas, table_standby_replicas=1, {self.orders} orders "
            f"at a steady pace): before the kill p50 {self.baseline_p50:.2f}s, p99 "
            f"{self.baseline_p99:.2f}s accepted->settled; SIGKILL {self.killed}; orders flow "
            f"again on every partition {self.failover_seconds:.1f}s after the kill (first order "
            f"placed after it settled, per partition: {self.per_partition} s)",
            f"changelog recovery (catalog products, no standby): {self.aggregates} rows; start on "
            f"an empty datadir {self.replay_seconds:.1f}s, on its own data "
            f"{self.start_with_data_seconds:.1f}s; replay {self.per_100k_seconds:.1f}s per "
            f"100,000 rows (linear extrapolation from {self.aggregates})",
            *self.notes])


def measure(*, root: Path, broker: Broker | None, bootstrap: str | None, namespace: str,
            aggregates: int, context: str = "order", orders: int = 400,
            seconds: float = 50.0) -> Recovery:
    if broker is not None:
        broker.start()
        bootstrap = broker.bootstrap
    settings = Settings(kafka_bootstrap_servers=bootstrap, namespace=f"{namespace}-f",
                        topic_partitions=4)
    system = local.start(root / "failover", settings, ORDERSTREAM_TABLE_STANDBY_REPLICAS="1",
                         ORDERSTREAM_STEP_TIMEOUT_SECONDS="60", ORDERSTREAM_LOG_LEVEL="error")
    try:
        second = system.add(context)
        system.wait_ready([second])
        time.sleep(10)  # the group settles on its two members before the load starts
        failover = asyncio.run(_failover(system, context, orders, seconds))
    finally:
        system.close()
    replay = _replay(root / "replay", Settings(kafka_bootstrap_servers=bootstrap,
                                               namespace=f"{namespace}-r", topic_partitions=4),
                     aggregates) if aggregates else dict(replay_seconds=0.0,
                                                        start_with_data_seconds=0.0,
                                                        per_100k_seconds=0.0)
    return Recovery(context=context, orders=orders, aggregates=aggregates, **failover, **replay)


async def _failover(system: local.LocalSystem, context: str, orders: int, seconds: float) -> dict:
    settings, rng = system.settings, random.Random(3)
    watch = workload.OrderWatch(settings)
    await watch.start()
    run = settings.namespace
    shop = workload.Shop(products={f"{run}-p{i}": (500, 10 * orders) for i in range(8)},
                         accounts={f"{run}-a{i}": 10**9 for i in range(8)}, restock={})
    plans = [workload.Plan(f"{run}-{n}", rng.choice(sorted(shop.accounts)),
                           ((rng.choice(sorted(shop.products)), 1),), False, False, None, False,
                           False, False) for n in range(orders)]
    placed: dict[str, float] = {}
    async with workload.Customers(system.urls, settings, watch, time.monotonic() + seconds + 240) as customers:
        await customers.seed(shop)

        async def place(plan: workload.Plan) -> None:
            start = time.monotonic()
            if await customers.place(plan):
                placed[plan.order_id] = start
                await watch.wait(plan.order_id, workload.settled, customers.deadline)

        victim = system.replicas[context][-1]
        started = time.monotonic()
        lives = []
        for n, plan in enumerate(plans):
            await asyncio.sleep(max(0.0, started + n * seconds / orders - time.monotonic()))
            lives.append(asyncio.create_task(place(plan)))
            if n == orders // 2:
                killed_at = time.monotonic()
                victim.kill()
        await asyncio.gather(*lives)
    await watch.stop()
    key = KEYS[context]
    return _flow(placed, watch.settled_at, killed_at, victim.name,
                 lambda order_id: (murmur2(key(order_id).encode()) & 0x7FFFFFFF) % settings.topic_partitions)


KEYS = {"order": lambda order_id: order_id, "payment": payment_id_for,
        "shipment": shipment_id_for}


def _flow(placed: dict[str, float], settled_at: dict[str, float], killed_at: float,
          victim: str, partition_of, steady: float = 20.0) -> dict:
    """Latency before the kill (orders placed in the `steady` seconds before it); then, per
    partition, how long after the kill the first order placed after it settled: the survivor's
    partitions answer in about the usual time, the dead replica's once they have moved. The
    slowest partition is when orders flow again everywhere."""
    before = sorted(settled_at[o] - t for o, t in placed.items()
                    if killed_at - steady <= t < killed_at and o in settled_at)
    p50, p99 = statistics.median(before), statistics.quantiles(before, n=100, method="inclusive")[98]
    first: dict[int, float] = {}
    for order_id, t in placed.items():
        if t >= killed_at and order_id in settled_at:
            part = partition_of(order_id)
            first[part] = min(first.get(part, float("inf")), settled_at[order_id] - killed_at)
    return dict(baseline_p50=p50, baseline_p99=p99, killed=victim,
                failover_seconds=max(first.values(), default=0.0),
                per_partition={p: round(s, 1) for p, s in sorted(first.items())})


def _replay(root: Path, settings: Settings, aggregates: int) -> dict:
    system = local.start(root, settings, contexts=("catalog",), ORDERSTREAM_LOG_LEVEL="error")
    try:
        asyncio.run(_fill(settings, aggregates))
        (proc,) = system.replicas["catalog"]
        proc.stop()
        data = Path(proc.env["ORDERSTREAM_DATADIR"])
        shutil.rmtree(data)
        replay = _time_start(system, proc)
        proc.stop()
        with_data = _time_start(system, proc)
    finally:
        system.close()
    return dict(replay_seconds=replay, start_with_data_seconds=with_data,
                per_100k_seconds=max(0.0, replay - with_data) * 100_000 / aggregates)


def _time_start(system: local.LocalSystem, proc: local.Proc) -> float:
    started = time.monotonic()
    proc.start()
    system.wait_ready([proc], timeout=1800)
    return time.monotonic() - started


async def _fill(settings: Settings, count: int) -> None:
    """`count` products registered straight through the command topic; returns once the
    catalog's changelog holds them all."""
    producer = AIOKafkaProducer(linger_ms=20, max_batch_size=2**20, **client_kwargs(settings))
    await producer.start()
    run, now = uuid.uuid4().hex[:6], datetime.now(UTC)
    try:
        for start in range(0, count, 5000):
            sends = []
            for n in range(start, min(count, start + 5000)):
                cmd = RegisterProduct.new(message_id=f"{run}-{n}", occurred_at=now,
                                          product_id=f"{run}-{n}", sku=f"S{n}", name=f"product {n}",
                                          price=100 + n % 900, currency="EUR", on_hand=10)
                sends.append(await producer.send(settings.topic("catalog.commands"), encode(cmd),
                                                 key=cmd.key.encode(), headers=headers(cmd)))
            await asyncio.gather(*sends)
    finally:
        await producer.stop()
    topic = changelog(settings, "catalog", "products")
    consumer = AIOKafkaConsumer(group_id=None, **client_kwargs(settings))
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        while sum((await consumer.end_offsets(tps)).values()) < count:
            await asyncio.sleep(1)
    finally:
        await consumer.stop()
