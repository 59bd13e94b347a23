"""The one actor loop: take the commands ready -> load -> decide -> send -> write rows -> ack.

A context's aggregates live in Faust tables (RocksDB + changelog) keyed by aggregate id, which
is also the Kafka key of its command topic, so one partition — one agent with concurrency=1 —
processes each aggregate's messages serially. The agent takes every command ready (up to
ORDERSTREAM_ACTOR_BATCH_MAX, never waiting for more), decides a partition's commands in order on
states kept in memory, sends the events and commands they cause, writes each touched row once
(its changelog record held back until Kafka has those messages), and only then acknowledges the
records. Faust flushes the producer before committing the offsets, so a crash anywhere in between
means redelivery: on the changelog as it was (decided again, the same messages sent again), or
on the rows written (the deciders answer with the original outcome, or with nothing when it was
sent already).
"""

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import murmur2
from faust.streams import _current_event
from faust.types import TP, EventT, StreamT
from pydantic import BaseModel, ValidationError

from orderstream.contracts import decode
from orderstream.contracts.envelope import Message
from orderstream.contracts.routes import route
from orderstream.domain import Decider, Saga, follow_up, no_saga
from orderstream.runtime import tracing
from orderstream.runtime.app import ContextApp, make_app
from orderstream.runtime.codec import encode, headers
from orderstream.runtime.deadletter import park
from orderstream.runtime.kafka import client_kwargs
from orderstream.runtime.retry import RetryPolicy
from orderstream.runtime.store import AggregateStore, Seen
from orderstream.settings import Settings, load

log = logging.getLogger(__name__)

PERMANENT = (ValidationError, ValueError, TypeError, KeyError, LookupError, AssertionError,
             UnicodeDecodeError, NotImplementedError)
RAW = {"key_serializer": "raw", "value_serializer": "raw"}


class UnknownMessage(ValueError):
    pass


class ActorSystem:
    """One bounded context on Faust: its topics, tables and agents."""

    def __init__(self, context: str, deciders: Sequence[Decider], saga: Saga = no_saga,
                 settings: Settings | None = None, census: Sequence[str] = ()):
        self.context = context
        self.saga = saga
        self.settings = settings or load()
        self.app: ContextApp = make_app(context, self.settings)
        self.deciders = {d.name: d for d in deciders}
        self.route = {cls: d for d in deciders for cls in d.commands}
        self._topics: dict[str, Any] = {}
        self._edge: AIOKafkaProducer | None = None
        self._offsets: AIOKafkaConsumer | None = None  # asks the broker for end offsets
        self._edge_lock = asyncio.Lock()
        self._closing: list[Callable[[], Awaitable[None]]] = []  # clients to close on shutdown
        self.position: dict[TP, int] = {}  # per partition read: the next offset to process
        self.watchers: dict[tuple[str, str], set[asyncio.Future]] = {}  # (table, key) -> waiting
        self.app.on_before_shutdown.connect(self._close)
        self.app.on_partitions_revoked.connect(self._moved)
        self.app.on_partitions_assigned.connect(self._moved)
        self.retry = RetryPolicy(max_attempts=5, base_seconds=0.2, cap_seconds=5.0)
        self.commands = self.topic(f"{context}.commands")
        self.events = self.topic(f"{context}.events")
        self.deadletter = self.topic(f"{context}.deadletter")
        self.stores = {d.name: AggregateStore(self.app, d, self.settings.topic_partitions) for d in deciders}
        self.app.agent(self.commands, name=f"{context}-actor", concurrency=1)(self._actor)
        self.metrics = self.app.metrics
        for name in census:  # aggregates counted by status in /metrics
            self.metrics.census.count(name, self.stores[name])
        if census:
            self.app.timer(interval=5.0, name=f"{context}-census")(self._refresh_census)
        self._observe: Callable[[Message, BaseModel, list[Message], BaseModel], None] | None = None
        tracing.configure(self.settings, context)

    async def _moved(self, *_: Any, **__: Any) -> None:
        for store in self.stores.values():
            store.forget()

    def recovered(self) -> bool:
        """Not rebalancing, and the tables are recovered: what they hold is this worker's."""
        return not self.app.rebalancing and self.app.tables.recovery.completed.is_set()

    async def _refresh_census(self) -> None:
        if not self.recovered():
            return
        topic = self.commands.get_topic_name()
        self.metrics.census.refresh({tp.partition for tp in self.app.assignor.assigned_actives()
                                     if tp.topic == topic})

    def observe(self, hook: Callable[[Message, BaseModel, list[Message], BaseModel], None]) -> None:
        """Have `hook(message, before, events, after)` called on every step that was not a
        duplicate: a context's app watches its aggregates with it (the order's saga metrics)."""
        self._observe = hook

    def topic(self, name: str):
        if name not in self._topics:
            self._topics[name] = self.app.topic(self.settings.topic(name), **RAW)
        return self._topics[name]

    def state_of(self, table: str, key: str) -> BaseModel | None:
        return self.stores[table].get(key)

    def watch(self, table: str, key: str) -> asyncio.Future:
        """A future resolved the next time this worker writes the row `key` of `table`: a view
        waiting for an aggregate to change waits for this, instead of reading it again and
        again. Call `unwatch` when done waiting."""
        future = asyncio.get_running_loop().create_future()
        self.watchers.setdefault((table, key), set()).add(future)
        return future

    def unwatch(self, table: str, key: str, future: asyncio.Future) -> None:
        waiting = self.watchers.get((table, key), set())
        waiting.discard(future)
        if not waiting:
            self.watchers.pop((table, key), None)

    async def caught_up(self, key: str, timeout: float = 5.0) -> bool:
        """Read-your-writes at the edge: has this worker processed every command that was on the
        partition of `key` when asked? A command accepted a moment ago (a 202) is then in the
        table, or it never was. Waits up to `timeout` for the actor to get there."""
        partitions = self.settings.topic_partitions
        tp = TP(self.commands.get_topic_name(), (murmur2(key.encode()) & 0x7FFFFFFF) % partitions)
        end = await self.end_offset(tp)
        deadline = time.monotonic() + timeout
        while max(self.position.get(tp, 0), self.app.consumer._committed_offset.get(tp) or 0) < end:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def end_offset(self, tp: TP) -> int:
        """The partition's end offset, asked of the broker now, on a client of the edge's own (on
        Faust's consumer the request waits behind its fetch: 1.5-2 s for every read of an id)."""
        async with self._edge_lock:
            if self._offsets is None:
                client = AIOKafkaConsumer(enable_auto_commit=False, **client_kwargs(self.settings))
                await client.start()
                self._offsets = client
        partition = TopicPartition(tp.topic, tp.partition)
        return (await self._offsets.end_offsets([partition]))[partition]

    async def send(self, command: Message) -> None:
        """To the command topic of its context, keyed by its aggregate id, from the span running
        now (a port's call) when tracing is on."""
        await self.topic(f"{command.context}.commands").send(
            key=command.key.encode(), value=encode(command), headers=headers(command, tracing.current()))

    async def send_now(self, message: Message) -> None:
        """From outside an agent (an HTTP view, a timer): on a producer of its own, acknowledged
        by the brokers before this returns — so a 202 means the command is in Kafka. (Faust's
        producer would, with exactly_once, put it in a transaction nobody commits.)"""
        async with self._edge_lock:  # concurrent first requests must not each start a producer
            if self._edge is None:
                producer = AIOKafkaProducer(acks="all", enable_idempotence=True, **client_kwargs(self.settings))
                await producer.start()
                self._edge = producer
            producer = self._edge
        with tracing.edge(self.context, message) as span:
            try:
                await producer.send_and_wait(self.settings.topic(f"{message.context}.commands"), encode(message),
                                             key=message.key.encode(),
                                             headers=headers(message, tracing.traceparent(span)))
            except Exception:
                # Unsent, so the caller answers 503. The producer may be broken for good (after a
                # broker restart: OutOfOrderSequenceNumber, then ProducerClosed): the next send
                # starts a new one.
                async with self._edge_lock:
                    if self._edge is producer:
                        self._edge = None
                        asyncio.ensure_future(_quietly(producer.stop()))
                raise

    def decide(self, event: EventT, rows: "Rows", out: list) -> None:
        """Decide the command record `event` on its aggregate's state in `rows`; keep the new
        state in `rows` and what is to be sent in `out`, with the traceparent of this step's
        span (runtime/tracing.py). A message this aggregate applied from another record already
        is a duplicate, answered with nothing."""
        if not tracing.enabled():
            return self._decide(event, rows, out, None)
        record = event.message
        with tracing.step(self.context, record.headers, record.topic, record.partition, record.offset) as span:
            try:
                self._decide(event, rows, out, span)
            except Exception as error:  # parked by the caller
                tracing.dead_lettered(span, error)
                raise

    def _decide(self, event: EventT, rows: "Rows", out: list, span) -> None:
        if not event.key:
            raise ValueError("message has no key: every command is keyed by its aggregate id")
        message, key, offset = decode(event.value), event.key.decode(), event.message.offset
        decider = self.route.get(type(message))
        if decider is None:
            raise UnknownMessage(f"{self.context} does not handle {message.type}")
        started = time.perf_counter()
        before, seen = rows.load(decider, key, message)
        if seen.get(message.message_id, offset) != offset:
            self.metrics.duplicates.labels(self.context, message.type).inc()
            tracing.duplicate(span, message)
            return
        events, state = decider.apply(message, before)
        if state != before:  # a restated outcome changes nothing: the row stays as it is
            seen.pop(message.message_id, None)
            rows.put(decider, key, state, {**seen, message.message_id: offset}, before)
            self.metrics.moved(decider.name, before, state)
        sent, parent = self.follow(decider, key, events, state), tracing.traceparent(span)
        out.extend((topic, to, sending, parent) for topic, to, sending in sent)
        self.metrics.processed(message.type, time.perf_counter() - started, events)
        if self._observe is not None:
            self._observe(message, before, events, state)
        tracing.decided(span, message, decider.name, events, sent, before, state)

    def follow(self, decider: Decider, key: str, events: list[Message], state: BaseModel) -> list:
        """What to send for the events of one command: the events to the context's event log;
        each to the aggregate that consumes it as a reply (contracts/routes.py); the commands
        each causes (domain.follow_up), which start now: the agent is an edge."""
        now = datetime.now(UTC)
        out = [(f"{self.context}.events", key, event) for event in events]
        for event in events:
            if (reply := route(event)) is not None:
                out.append((f"{reply[0]}.commands", reply[1], event))
            out += [(f"{c.context}.commands", c.key, c)
                    for c in follow_up(decider, self.saga, event, state, now)]
        return out

    def port(self, kinds: tuple[type[Message], ...], call: Callable[[Any], Awaitable[list[Message]]],
             close: Callable[[], Awaitable[None]], concurrency: int = 8) -> None:
        """An agent that answers this context's own events of `kinds` by calling the outside
        world (gateway, carrier) and feeding the result back as commands; `close` closes the
        client when the worker stops."""
        self._closing.append(close)
        async def answer(stream: StreamT) -> None:
            async for event in stream.events():
                await self._guarded(event, lambda e: self._answer(e, kinds, call))

        self.app.agent(self.events, name=f"{self.context}-port", concurrency=concurrency)(answer)

    async def _answer(self, event: EventT, kinds, call) -> None:
        message, record = decode(event.value), event.message
        if isinstance(message, kinds):
            with tracing.step(self.context, record.headers, record.topic, record.partition, record.offset,
                              name=f"port {message.type}") as span:
                commands = await call(message)
                tracing.called(span, message, commands)
                for command in commands:
                    await self.send(command)

    async def _actor(self, stream: StreamT) -> None:
        """Every command ready is taken in one batch (one at a time when idle, so no waiting);
        a partition's commands are decided in order, each touched row is written once, then
        everything is sent, and only then are the records acknowledged (at least once)."""
        stream = stream.noack()
        async for batch in ready(stream, self.settings.actor_batch_max):
            for events in by_partition(batch).values():
                await self._process(events)
            for event in batch:
                await stream.ack(event)
            self.app.last_progress = time.monotonic()

    async def _process(self, events: list[EventT]) -> None:
        """The commands of one partition: a table reads and writes the partition of the current
        event, so it is one of theirs throughout."""
        rows, out, last = Rows(self.stores, events[-1].message.partition), [], events[-1]
        token = _current_event.set(weakref.ref(last))
        try:
            for event in events:
                try:
                    self.decide(event, rows, out)
                except Exception as error:  # a pure decision that failed fails again: park it
                    await self._park(event, error)
            try:
                await self.retry.run(lambda: self._write(rows, out), retry_on=(Exception,),
                                     never=PERMANENT, on_retry=lambda n, error, wait: self._log_retry(
                                         last, n, error, wait))
            except Exception as error:
                for event in events:
                    await self._park(event, error)
        finally:
            _current_event.reset(token)
        self.position[last.message.tp] = max(self.position.get(last.message.tp, 0),
                                             last.message.offset + 1)

    async def _write(self, rows: "Rows", out: list) -> None:
        """Send what the batch caused, then write the rows, whose changelog records the
        producer holds back until Kafka has acknowledged all of it (`Gate` in
        runtime/consumer.py): a crash in between leaves the changelog as it was, and the
        redelivered commands are decided on it again and send the same messages (same ids).
        Rows first lost a failed order's events for good (README, bug 15)."""
        self.app.thawed()  # a zombie back from a freeze exits here, before it sends or writes
        # Faust's producer driver, as topic.send would call it, without the future message,
        # pending message and callbacks topic.send makes per message for nobody here to read
        producer, acks = await self.app.maybe_start_producer(), []
        encoded: dict[int, tuple[bytes, list]] = {}  # a reply goes to two topics: encoded once
        for name, key, message, parent in out:
            if (wire := encoded.get(id(message))) is None:
                wire = encoded[id(message)] = (encode(message), headers(message, parent))
            acks.append(await producer.send(self.topic(name).get_topic_name(), key.encode(), wire[0],
                                            partition=None, timestamp=None, headers=wire[1]))
        self.app.producer.gate.hold(acks)
        rows.write()
        if self.metrics.census.stores:
            for name, old, new in rows.moves():
                self.metrics.census.written(name, rows.partition, old, new)
        for row in rows.touched.keys() & self.watchers.keys():
            for future in self.watchers[row]:
                if not future.done():
                    future.set_result(None)

    async def _park(self, event: EventT, error: BaseException) -> None:
        self.metrics.deadletters.labels(self.context, event.message.topic, type(error).__name__).inc()
        await park(self.deadletter, event, error, self.context)

    async def _guarded(self, event: EventT, step: Callable[[EventT], Any]) -> None:
        """Run one step; park what can never succeed; retry what may; never kill the agent."""
        try:
            await self.retry.run(lambda: step(event), retry_on=(Exception,), never=PERMANENT,
                                 on_retry=lambda n, error, wait: self._log_retry(event, n, error, wait))
        except Exception as error:  # the agent must keep processing the rest
            await self._park(event, error)
        self.app.last_progress = time.monotonic()

    async def _close(self, app: ContextApp, **_: Any) -> None:
        for close in self._closing:
            await close()
        for client in (self._edge, self._offsets):
            if client is not None:
                await client.stop()

    def _log_retry(self, event: EventT, attempt: int, error: BaseException, delay: float) -> None:
        m = event.message
        self.metrics.retries.labels(self.context, m.topic).inc()
        log.warning("%s: transient %s on %s[%s]@%s (attempt %d); retrying in %.2fs", self.context,
                    type(error).__name__, m.topic, m.partition, m.offset, attempt, delay)


class Rows:
    """The rows a batch touched, in memory until it is written: a row is written once per batch,
    however many of the batch's commands it took."""

    def __init__(self, stores: dict[str, AggregateStore], partition: int):
        self.stores, self.partition = stores, partition
        self.touched: dict[tuple[str, str], tuple[BaseModel, Seen]] = {}
        self.loaded: dict[tuple[str, str], BaseModel] = {}  # each row as it was before the batch

    def load(self, decider: Decider, key: str, message: Message) -> tuple[BaseModel, Seen]:
        store = self.stores[decider.name]
        if (found := self.touched.get((decider.name, key))) is None:
            return store.load(key, message)
        return store.with_entry(key, found[0], message, found[1]), dict(found[1])

    def put(self, decider: Decider, key: str, state: BaseModel, seen: Seen, before: BaseModel) -> None:
        self.touched[(decider.name, key)] = (state, seen)
        self.loaded.setdefault((decider.name, key), before)

    def moves(self) -> list[tuple[str, str | None, str | None]]:
        """(aggregate, status before the batch, status now) of each row written; once, however
        often the write is tried."""
        loaded, self.loaded = self.loaded, {}
        return [(name, getattr(loaded[(name, key)], "status", None), getattr(state, "status", None))
                for (name, key), (state, _) in self.touched.items() if (name, key) in loaded]

    def write(self) -> None:
        for (name, key), (state, seen) in self.touched.items():
            self.stores[name].store(key, state, seen)


async def ready(stream: StreamT, limit: int) -> AsyncIterator[list[EventT]]:
    """The events ready now, up to `limit` at a time: never waits for a batch to fill, and never
    holds a batch waiting for one more event. (A rebalance clears the stream's queue between a
    look at it and the next read; a batch held then is never acknowledged, and the rebalance
    waits for its acknowledgement forever.)"""
    queue, events = stream.channel.queue, stream.events().__aiter__()
    pending: asyncio.Future | None = None
    while True:
        try:
            batch = [await (pending or asyncio.ensure_future(events.__anext__()))]
            pending = None
            while len(batch) < limit and not queue.empty():
                pending = asyncio.ensure_future(events.__anext__())
                if not (await asyncio.wait({pending}, timeout=0.05))[0]:
                    break  # the queue was emptied under us: this batch goes now
                batch.append(pending.result())
                pending = None
        except StopAsyncIteration:
            return
        yield batch


def by_partition(events: list[EventT]) -> dict[TP, list[EventT]]:
    found: dict[TP, list[EventT]] = {}
    for event in events:
        found.setdefault(event.message.tp, []).append(event)
    return found


async def _quietly(closing: Awaitable[None]) -> None:
    try:
        await closing
    except Exception as error:
        log.debug("closing a broken producer: %r", error)
