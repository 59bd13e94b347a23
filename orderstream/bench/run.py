"""`orderstream bench`: seed a workload, offer it to a running system (closed or open loop),
and measure what each order costs: latency, Kafka records per topic, CPU per process; then the
same number of orders through a raw aiokafka relay chain writing as many records, as a baseline."""

import asyncio
import math
import random
import sys
import time
import uuid
from dataclasses import asdict, dataclass

import aiohttp

from orderstream.bench import load, probes, stats, workload
from orderstream.bench.relay import Chain
from orderstream.settings import Settings


@dataclass(frozen=True)
class Options:
    workload: str = "hot"
    orders: int = 200
    concurrency: int = 20
    rate: float | None = None       # open loop when set
    duration: float = 60.0
    drain: float = 30.0
    products: int = 200
    customers: int = 100
    seed: int = 1
    warmup: int = 5
    host: str = "127.0.0.1"
    baseline: bool = True
    relay_hops: int = 17
    relay_compare: int = 25         # also relay at this many records/order; 0: not
    progress: bool = True

    @property
    def count(self) -> int:
        return len(stats.schedule(self.rate, self.duration)) if self.rate else self.orders


def settled(outcomes: list[load.Outcome]) -> list[load.Outcome]:
    return [o for o in outcomes if o.status != load.UNSETTLED and not o.status.startswith("HTTP")]


def outcomes_by_status(outcomes: list[load.Outcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


class Meter:
    """Offsets of every topic and CPU ticks of the given processes, before and after a run."""

    def __init__(self, offsets: probes.Offsets, pids: dict[str, int]):
        self.offsets, self.pids = offsets, pids

    async def quiet(self, window: float = 2.0, limit: float = 30.0) -> dict[str, int]:
        """A snapshot once nothing but offset commits was written for `window` seconds (the
        tail of a run: history records, changelog flushes), or after `limit` seconds."""
        last, deadline = await self.offsets.snapshot(), time.monotonic() + limit
        while time.monotonic() < deadline:
            await asyncio.sleep(window)
            now = await self.offsets.snapshot()
            moved = {t for t in stats.written(last, now) if not t.startswith("__")}
            last = now
            if not moved:
                break
        return last

    async def start(self, idle: float = 3.0) -> None:
        """Also measures each process's CPU while idle for `idle` seconds: the part of a cost
        per order that is only time passing (heartbeats, fetch polls, timers)."""
        await self.quiet()
        ticks = probes.cpu_ticks(self.pids)
        await asyncio.sleep(idle)
        self.before, self.cpu_before = await self.offsets.snapshot(), probes.cpu_ticks(self.pids)
        self.idle = stats.cpu_ms_per(ticks, self.cpu_before, probes.TICKS_PER_SECOND, idle)

    async def stop(self, orders: int) -> dict:
        after = await self.quiet()
        cpu = stats.cpu_ms_per(self.cpu_before, probes.cpu_ticks(self.pids), probes.TICKS_PER_SECOND, orders)
        written = stats.written(self.before, after)
        return {"messages_per_order": round(sum(written.values()) / orders, 2) if orders else 0,
                "messages_by_topic": {t: round(n, 3) for t, n in stats.per_order(written, orders).items()},
                "messages_written": sum(written.values()),
                "cpu_ms_per_order": {name: round(ms, 2) for name, ms in cpu.items()},
                "idle_cpu_ms_per_second": {name: round(ms, 2) for name, ms in self.idle.items()}}


def summary(outcomes: list[load.Outcome], seconds: float) -> dict:
    done = settled(outcomes)
    return {"orders": len(outcomes), "seconds": round(seconds, 2),
            "orders_per_second": round(len(done) / seconds, 2) if seconds else 0.0,
            "latency_ms": stats.latency_ms([o.latency for o in done]),
            "outcomes": outcomes_by_status(outcomes)}


async def orderstream(options: Options, settings: Settings, token: str | None, offsets: probes.Offsets) -> dict:
    run = uuid.uuid4().hex[:8]
    rng = random.Random(options.seed)
    shop = workload.shop(options.workload, run, rng, options.products, options.customers)
    orders = workload.orders_for(options.workload, shop, options.warmup + options.count, rng)
    bodies = [workload.order_body(o) for o in orders]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=90)) as session:
        if options.progress:
            print(f"seeding {len(shop.prices)} products, {len(shop.customers)} customers and accounts",
                  file=sys.stderr)
        seeded = await workload.seed(session, options.host, shop, orders, headers)
        place = load.Placer(session, workload.url("order", options.host) + "/orders", bodies, headers)
        if options.warmup:
            await load.closed_loop(options.warmup, options.warmup, place,
                                   load.Progress("warm-up", options.warmup, quiet=not options.progress))
        meter = Meter(offsets, probes.stack_pids())
        await meter.start()
        client_cpu = probes.own_cpu_seconds()
        place.reads = 0
        outcomes, result = await offer(options, lambda i: place(options.warmup + i))
        result["reads_per_order"] = round(place.reads / max(len(outcomes), 1), 1)
        client_ms = (probes.own_cpu_seconds() - client_cpu) * 1000 / max(len(outcomes), 1)
        costs = await meter.stop(len(outcomes))
    return {"run": run, "workload": options.workload, "mode": "open" if options.rate else "closed",
            "saga_mode": place.saga_mode or settings.saga_mode.value, "seed_requests": seeded,
            "warmup": options.warmup,
            **result, **costs, "client_cpu_ms_per_order": round(client_ms, 2), "latencies": points(outcomes)}


async def offer(options: Options, attempt: load.Attempt) -> tuple[list[load.Outcome], dict]:
    """The measured orders, closed or open loop; their outcomes and a summary."""
    progress = load.Progress("orderstream", options.count, quiet=not options.progress)
    if not options.rate:
        outcomes, seconds = await load.closed_loop(options.count, options.concurrency, attempt, progress)
        return outcomes, summary(outcomes, seconds) | {"concurrency": options.concurrency}
    offered = stats.schedule(options.rate, options.duration)
    outcomes, unsettled_at_end = await load.open_loop(offered, options.duration, attempt, options.drain, progress)
    in_window = [o for o in settled(outcomes) if o.started + o.latency <= options.duration]
    return outcomes, summary(outcomes, options.duration) | {
        "offered_rate": options.rate, "duration": options.duration,
        "orders_per_second": round(len(in_window) / options.duration, 2),
        "unsettled_at_end": unsettled_at_end,
        "unsettled_after_drain": outcomes_by_status(outcomes).get(load.UNSETTLED, 0)}


def points(outcomes: list[load.Outcome]) -> list[list]:
    """[start s, latency ms or None, status] per order, for --json and --plot."""
    return [[round(o.started, 3), None if math.isnan(o.latency) else round(o.latency * 1000, 1), o.status]
            for o in outcomes]


async def relay(options: Options, settings: Settings, offsets: probes.Offsets, messages_per_order: int,
                orders: int, concurrency: int, broker_pid: int | None) -> dict:
    run = uuid.uuid4().hex[:8]
    async with Chain(settings, run, options.relay_hops, messages_per_order) as chain:
        for i in range(5):  # warm-up: every relay has fetched once
            await chain.one(f"warmup-{i}")
        meter = Meter(offsets, chain.pids | ({"kafka": broker_pid} if broker_pid else {}))
        await meter.start()
        progress = load.Progress(f"relay {messages_per_order}/order", orders, quiet=not options.progress)
        outcomes, seconds = await load.closed_loop(orders, concurrency, lambda i: chain.one(f"{run}-{i}"),
                                                   progress)
        costs = await meter.stop(orders)
    return {"hops": options.relay_hops, "target_messages_per_order": messages_per_order,
            **summary(outcomes, seconds), **costs, "latencies": points(outcomes)}


async def bench(options: Options, settings: Settings, token: str | None = None) -> dict:
    async with probes.Offsets(settings) as offsets:
        result = await orderstream(options, settings, token, offsets)
        if not options.baseline:
            return result | {"options": asdict(options)}
        target = max(round(result["messages_per_order"]), 1)
        broker = probes.stack_pids().get("kafka")
        baselines = []
        for per_order in [target] + ([options.relay_compare] if options.relay_compare not in (0, target) else []):
            baselines.append(await relay(options, settings, offsets, per_order, result["orders"],
                                         options.concurrency, broker))
    relay_rate = baselines[0]["orders_per_second"]
    # open loop: orderstream's rate is the offered one, no capacity to compare
    ratio = result["orders_per_second"] / relay_rate if relay_rate and not options.rate else None
    return result | {"baseline": baselines, "ratio_to_relay": ratio and round(ratio, 3), "options": asdict(options)}
