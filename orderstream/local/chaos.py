"""`orderstream chaos`: a system of its own, orders through it while faults are injected, then
the audit once it is quiet. Bounded in orders and in time; it stops by itself and leaves no
process behind.

Faults (`--faults`, comma-separated, default all), spread over the window orders are placed in,
overlapping:

- kill      SIGKILL each context's worker in turn (order included), restarted at once;
- stop      SIGSTOP a replica of payment for longer than the consumer session timeout (20 s), so
            its partitions move to another replica, then SIGCONT: a zombie that comes back;
- storm     payment scaled 1 -> 3 -> 1 replicas (table_standby_replicas=1 everywhere);
- broker    the broker stopped and started again (only with a broker of its own);
- gateway-outage, gateway-slow (answers after the client gave up), carrier-outage;
- reset     a context's consumer group reset to offset 0: its workers stopped, the group's
            committed offsets set to the beginning, its workers started: every command replayed.

A worker that exits when nobody killed it is restarted (as its StatefulSet would) and reported.
"""

import argparse
import asyncio
import itertools
import json
import logging
import random
import shutil
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from orderstream.local import eventlog, replicas, system as local, workload
from orderstream.local.audit import Gateway, Report, check
from orderstream.local.kafka import Broker
from orderstream.runtime.kafka import admin, client_kwargs
from orderstream.runtime.topics import app_id
from orderstream.settings import CONTEXTS, Settings

FAULTS = ("kill", "stop", "storm", "broker", "gateway-outage", "gateway-slow", "carrier-outage",
          "reset")
SESSION_TIMEOUT = 20.0   # runtime/app.py: broker_session_timeout
SCALED = "payment"       # the context scaled up and down, and whose replica is stopped


@dataclass
class Faults:
    system: local.LocalSystem
    started: float
    chosen: set[str]
    reset_context: str = "account"
    broker_anytime: bool = False
    log: list[str] = field(default_factory=list)
    held: set[str] = field(default_factory=set)    # stopped on purpose: not to be revived

    def note(self, what: str) -> None:
        line = f"t+{time.monotonic() - self.started:6.1f}s {datetime.now().strftime('%H:%M:%S')}  {what}"
        self.log.append(line)
        print(line, flush=True)

    async def at(self, seconds: float, fault, origin: float) -> None:  # type: ignore[no-untyped-def]
        await asyncio.sleep(max(0.0, origin + seconds - time.monotonic()))
        try:
            await fault
        except Exception as error:  # a fault that could not be injected is reported, not fatal
            self.note(f"FAULT FAILED: {type(error).__name__}: {error}")

    async def kill(self, context: str) -> None:
        proc = next((p for p in reversed(self.system.replicas[context]) if p.running()),
                    self.system.replicas[context][0])  # the newest: the first may be the zombie
        pid, self.held = proc.pid, self.held | {proc.name}
        try:
            await asyncio.to_thread(lambda: (proc.kill(), proc.start()))
        finally:
            self.held -= {proc.name}
        self.note(f"kill: SIGKILL {proc.name} (pid {pid}); started again (pid {proc.pid})")

    async def zombie(self, seconds: float) -> None:
        proc = self.system.replicas[SCALED][0]
        proc.signal(signal.SIGSTOP)
        self.note(f"stop: SIGSTOP {proc.name} (pid {proc.pid}) for {seconds:.0f}s, longer than "
                  f"the {SESSION_TIMEOUT:.0f}s session timeout: its partitions move")
        await asyncio.sleep(seconds)
        proc.signal(signal.SIGCONT)
        self.note(f"stop: SIGCONT {proc.name}: the zombie is back")

    async def storm(self, pause: float) -> None:
        """payment 1 -> 3 replicas; its first replica a zombie while they are there; -> 1."""
        extra = [self.system.add(SCALED) for _ in range(2 if "storm" in self.chosen else 1)]
        self.note(f"storm: {SCALED} scaled to {len(self.system.replicas[SCALED])} replicas "
                  f"({', '.join(p.name for p in extra)})")
        await asyncio.to_thread(self.system.wait_ready, extra)
        self.note(f"storm: {', '.join(p.name for p in extra)} ready")
        if "stop" in self.chosen:
            await self.zombie(pause)
            await asyncio.sleep(10)
        for proc in extra:
            await asyncio.to_thread(self.system.retire, proc)
        self.note(f"storm: {SCALED} scaled back to {len(self.system.replicas[SCALED])} replica")

    async def broker(self) -> None:
        broker = self.system.broker
        await asyncio.to_thread(broker.stop)
        self.note(f"broker: stopped {broker.bootstrap}")
        await asyncio.to_thread(broker.start)
        self.note(f"broker: started again on {broker.bootstrap}")

    async def service(self, name: str, config: dict, seconds: float, what: str) -> None:
        proc = getattr(self.system, name)
        async with aiohttp.ClientSession() as session:
            await session.post(f"{proc.url}/admin/config", json=config)
            self.note(f"{what}: {name} {config} for {seconds:.0f}s")
            await asyncio.sleep(seconds)
            await session.post(f"{proc.url}/admin/config", json={"outage": False, "latency_ms": 0})
        self.note(f"{what}: {name} back to normal")

    async def reset(self, context: str) -> None:
        procs = list(self.system.replicas[context])
        self.held |= {p.name for p in procs}
        group = app_id(self.system.settings, context)
        try:
            for proc in procs:
                await asyncio.to_thread(proc.stop)
            for attempt in range(60):  # the broker may be away (another fault): wait for it
                try:
                    moved = await reset_group(self.system.settings, group)
                    break
                except KafkaError:
                    await asyncio.sleep(2)
            else:
                raise RuntimeError(f"could not reset group {group}: the broker never answered")
            self.note(f"reset: {context} stopped; group {group} set back to the beginning on "
                      f"{moved} partitions")
        finally:
            for proc in procs:
                proc.start()
            self.held -= {p.name for p in procs}
        self.note(f"reset: {context} started again: it reads every command from offset 0")

    async def revive(self) -> None:
        """What Kubernetes would do: a worker that exited without being told to is started
        again, waiting longer each time it keeps exiting (a crash loop); one whose GET /live
        answers 503 twice in a row (its consumer stalled) is killed and started again."""
        waits: dict[str, float] = {}
        due: dict[str, float] = {}
        stalled: set[str] = set()
        for tick in itertools.count():
            await asyncio.sleep(1)
            if tick % 10 == 0:
                stalled = await self.restart_stalled(stalled)
            for proc in self.system.workers():
                if proc.running() or proc.name in self.held:
                    continue
                if proc.name not in due:
                    waits[proc.name] = min(30.0, waits.get(proc.name, 1.0) * 2)
                    due[proc.name] = time.monotonic() + waits[proc.name]
                    self.note(f"EXITED {proc.name} by itself (code {proc.popen.returncode}); "
                              f"starting it again in {waits[proc.name]:.0f}s; see {proc.log}")
                elif time.monotonic() >= due[proc.name]:
                    del due[proc.name]
                    proc.start()

    async def restart_stalled(self, before: set[str]) -> set[str]:
        stalled = set()
        for proc in self.system.workers():
            if proc.name in self.held or not proc.running():
                continue
            status = await asyncio.to_thread(local.status_of, f"{proc.url}/live")
            if status != 503:
                continue
            if proc.name not in before:
                stalled.add(proc.name)
                continue
            self.held.add(proc.name)
            try:
                await asyncio.to_thread(lambda: (proc.kill(), proc.start()))
            finally:
                self.held.discard(proc.name)
            self.note(f"LIVENESS: {proc.name} answered 503 on /live twice (consumer stalled); "
                      f"killed and started again (pid {proc.pid})")
        return stalled

    async def inject(self, window: float) -> None:
        """Every fault at its time (see `schedule`), overlapping."""
        origin = time.monotonic()
        await asyncio.gather(*(self.at(at, fault, origin) for at, fault in self.schedule(window)))

    async def steady(self, seconds: float, timeout: float) -> None:
        """Until every worker has answered ready for `seconds` in a row (at most `timeout`)."""
        deadline, since = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            ready = await asyncio.to_thread(lambda: all(p.ready() for p in self.system.workers()))
            since = (since or time.monotonic()) if ready else None
            if since is not None and time.monotonic() - since >= seconds:
                return
            await asyncio.sleep(1)

    async def broker_when_steady(self) -> None:
        """The broker restart, once every worker has been ready for 10 s (at most a minute
        later): restarted soon after a worker (re)joined its group, the broker loses commands
        today (README, known bugs); --broker-anytime restarts it on time regardless."""
        if not self.broker_anytime:
            await self.steady(seconds=10, timeout=60)
        await self.broker()

    def schedule(self, window: float) -> list:
        """(when, fault): when each fault starts, in seconds into the window. They overlap;
        the broker restart comes last."""
        w, chosen = window, self.chosen
        plan: list = []
        if "kill" in chosen:
            plan += [(w * (0.04 + 0.1 * i), self.kill(c)) for i, c in enumerate(
                ("catalog", "customer", "account", "shipment", "order", "payment"))]
        if chosen & {"storm", "stop"}:
            plan.append((w * 0.08, self.storm(SESSION_TIMEOUT + 8)))
        if "gateway-slow" in chosen:
            plan.append((w * 0.12, self.service("gateway", {"latency_ms": 2500},
                                                max(6.0, w * 0.1), "gateway-slow")))
        if "carrier-outage" in chosen:
            plan.append((w * 0.3, self.service("carrier", {"outage": True}, 6,
                                               "carrier-outage")))
        if "gateway-outage" in chosen:
            plan.append((w * 0.48, self.service("gateway", {"outage": True}, 6,
                                                "gateway-outage")))
        if "reset" in chosen:
            plan.append((w * 0.62, self.reset(self.reset_context)))
        if "broker" in chosen and self.system.broker is not None:
            plan.append((w * 0.78, self.broker_when_steady()))
        return plan


async def reset_group(settings: Settings, group: str) -> int:
    """Commit the beginning of every partition `group` has an offset for. Waits until the group
    is empty (its members stopped), as the broker allows offsets to be set only then."""
    client = admin(settings)
    await client.start()
    try:
        for _ in range(120):
            described = await client.describe_consumer_groups([group])
            state = described[0].groups[0][2] if described and described[0].groups else "Dead"
            if state in ("Empty", "Dead"):
                break
            await asyncio.sleep(0.5)
        offsets = await client.list_consumer_group_offsets(group)
    finally:
        await client.close()
    partitions = [tp for tp in offsets if not tp.topic.endswith("__leader")]
    consumer = AIOKafkaConsumer(group_id=group, enable_auto_commit=False, **client_kwargs(settings))
    await consumer.start()
    try:
        consumer.assign(partitions)
        beginnings = await consumer.beginning_offsets(partitions)
        await consumer.commit({tp: beginnings[tp] for tp in partitions})
    finally:
        await consumer.stop()
    return len(partitions)


async def lag(settings: Settings) -> int:
    """Messages written and not yet committed by the group that reads them, over all contexts."""
    client = admin(settings)
    consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None, **client_kwargs(settings))
    await client.start()
    await consumer.start()
    try:
        waiting = 0
        for context in CONTEXTS:
            read = [f"{context}.commands"] + ([f"{context}.events"] if context in ("payment", "shipment") else [])
            tps = [TopicPartition(settings.topic(t), p) for t in read for p in range(settings.topic_partitions)]
            committed = await client.list_consumer_group_offsets(app_id(settings, context), partitions=tps)
            ends = await consumer.end_offsets(tps)
            waiting += sum(max(0, ends[tp] - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0))
                           for tp in tps)
        return waiting
    finally:
        await consumer.stop()
        await client.close()


async def quiet(settings: Settings, watch: workload.OrderWatch, accepted: set[str],
                deadline: float) -> str:
    """Wait until every accepted order is settled and nothing waits to be read, twice in a row."""
    calm, open_orders, waiting = 0, list(accepted), None
    while time.monotonic() < deadline:
        open_orders = [o for o in accepted if not (o in watch.orders and workload.settled(watch.orders[o]))]
        waiting = await lag(settings) if not open_orders else None
        calm = calm + 1 if waiting == 0 else 0
        if calm >= 2:
            return "quiet: every order settled, every message read"
        await asyncio.sleep(2)
    return (f"not quiet after the settle window: {len(open_orders)} orders not settled, "
            f"{'?' if waiting is None else waiting} messages not read")


@dataclass
class Result:
    mode: str
    orders: int
    namespace: str
    faults: list[str]
    workload: dict
    problems: list[str]
    quiescence: str
    report: Report
    seconds: float

    @property
    def ok(self) -> bool:
        return self.report.ok and not self.problems

    def text(self) -> str:
        lines = [f"chaos: {self.orders} orders, {self.mode}, namespace {self.namespace}, "
                 f"{self.seconds:.0f}s", "faults injected:", *("  " + f for f in self.faults),
                 f"workload: {', '.join(f'{k} {v}' for k, v in sorted(self.workload.items()))}",
                 *(f"PROBLEM {p}" for p in self.problems), self.quiescence, self.report.text()]
        return "\n".join(lines)


async def run_async(system: local.LocalSystem, orders: int, seconds: float, settle: float,
                    chosen: set[str], seed: int, reset_context: str = "account",
                    broker_anytime: bool = False) -> Result:
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(32))  # faults block
    settings, rng, started = system.settings, random.Random(seed), time.monotonic()
    shop = workload.Shop.for_orders(orders, rng, settings.namespace)
    watch = workload.OrderWatch(settings)
    await watch.start()
    faults = Faults(system, time.monotonic(), chosen, reset_context, broker_anytime)
    async with workload.Customers(system.urls, settings, watch, time.monotonic() + 300) as customers:
        await customers.seed(shop)
        faults.started = time.monotonic()
        end = customers.deadline = faults.started + seconds + settle
        faults.note(f"seeded {len(shop.products)} products, {len(shop.accounts)} accounts; "
                    f"placing {orders} orders over {seconds:.0f}s")
        revive = asyncio.create_task(faults.revive())
        injections = asyncio.create_task(faults.inject(seconds))
        await workload.drive(customers, workload.plans(shop, orders, rng, settings.namespace),
                             seconds, rng, at_half=lambda: customers.restock(shop))
        await injections
        faults.note("every order placed and followed; waiting for quiescence")
        quiescence = await quiet(settings, watch, customers.accepted, end + 30)
        faults.note(quiescence)
        revive.cancel()
        await watch.stop()
        report = await audit(system, customers.accepted)
    return Result(system.settings.saga_mode.value, orders, settings.namespace, faults.log,
                  dict(customers.seen), customers.problems, quiescence, report,
                  time.monotonic() - started)


async def audit(system: local.LocalSystem, accepted: set[str]) -> Report:
    now = datetime.now(UTC)
    recorded = await eventlog.read(system.settings)
    stats = await asyncio.to_thread(eventlog.gateway_stats, system.gateway.url)
    labels = await asyncio.to_thread(eventlog.gateway_stats, system.carrier.url)
    rows = await asyncio.to_thread(eventlog.rows, recorded.books, system.url("catalog"),
                                   system.url("account"))
    gateway = Gateway(stats["charged_by_payment"], stats["refunded_by_payment"],
                      labels["labels_by_shipment"])
    return check(recorded.books, now=now, dead_letters=recorded.dead_letters,
                 poison=recorded.poison, accepted=recorded.accepted | accepted,
                 undecodable=recorded.undecodable, gateway=gateway, rows=rows, settled=True,
                 grace=timedelta(0))


def chosen_faults(text: str) -> set[str]:
    if text in ("all", ""):
        return set(FAULTS)
    if text == "none":
        return set()
    picked = {f.strip() for f in text.split(",")}
    if unknown := picked - set(FAULTS):
        raise SystemExit(f"orderstream chaos: unknown fault(s) {sorted(unknown)}; choose from {FAULTS}")
    return picked


def run(*, orders: int, mode: str, seconds: float, settle: float, faults: set[str], seed: int,
        root: Path, bootstrap: str | None = None, broker: Broker | None = None,
        namespace: str | None = None, reset_context: str = "account",
        step_timeout: float = 10.0, log_level: str = "error",
        broker_anytime: bool = False) -> Result:
    """A whole chaos run: system up, orders and faults, quiescence, audit, system down, and
then every replica's tables against their changelogs (local/replicas.py)."""
    namespace = namespace or f"chaos-{uuid.uuid4().hex[:8]}"
    if broker is not None:
        broker.start()
        bootstrap = broker.bootstrap
    settings = Settings(kafka_bootstrap_servers=bootstrap, namespace=namespace, saga_mode=mode,
                        topic_partitions=4)
    print(f"chaos: {orders} orders, {mode}, faults {sorted(faults)}, namespace {namespace}, "
          f"logs in {root}", flush=True)
    system = local.start(root, settings, broker, decline_over=20_000,
                         ORDERSTREAM_SAGA_MODE=mode, ORDERSTREAM_TABLE_STANDBY_REPLICAS="1",
                         ORDERSTREAM_STEP_TIMEOUT_SECONDS=str(step_timeout),
                         ORDERSTREAM_LOG_LEVEL=log_level)
    try:
        result = asyncio.run(run_async(system, orders, seconds, settle, faults, seed, reset_context,
                                       broker_anytime))
    finally:
        system.close()
    result.report.violations += replicas.check(root, settings)  # every worker stopped now
    return result


def main(args: argparse.Namespace) -> int:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # a broker down is the point
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(SystemExit(143)))
    namespace = args.namespace or f"chaos-{uuid.uuid4().hex[:8]}"
    root = Path(args.workdir or Path("var") / "chaos" / namespace)
    broker, ours = None, False
    if args.bootstrap is None:
        port = args.kafka_port or 19892
        broker = Broker(Path(args.broker_home or Path("var") / f"chaos-kafka-{port}"), port)
        ours = not broker.running()
        if ours:  # a fresh broker: a restart then loads this run's topics only
            shutil.rmtree(broker.home, ignore_errors=True)
    try:
        if args.action == "recovery":
            from orderstream.local import recovery

            result = recovery.measure(root=root, broker=broker, bootstrap=args.bootstrap,
                                      namespace=namespace, aggregates=args.aggregates)
            print(result.text())
            ok, payload = True, result.__dict__
        else:
            result = run(orders=args.orders, mode=args.mode, seconds=args.seconds,
                         settle=args.settle_seconds, faults=chosen_faults(args.faults),
                         seed=args.seed, root=root, bootstrap=args.bootstrap, broker=broker,
                         namespace=namespace, log_level=args.log_level,
                         broker_anytime=args.broker_anytime)
            print(result.text())
            ok, payload = result.ok, {**result.__dict__, "report": result.report.__dict__}
        if args.json:
            Path(args.json).write_text(json.dumps(payload, indent=2, default=str))
        return 0 if ok else 1
    finally:
        if ours:
            broker.stop()
