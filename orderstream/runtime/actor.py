"""The one actor loop: load state -> decide -> store state -> publish events -> send reactions.

A context's aggregates live in Faust tables (RocksDB + changelog) keyed by aggregate id, which
is also the Kafka key of its command topic, so one partition — one agent with concurrency=1 —
processes each aggregate's messages serially. State and outgoing messages of one command are
produced in one agent step; Faust flushes the producer before committing the offset, so a crash
in between means redelivery, and the deciders answer a redelivery with the original outcome.
"""

import asyncio
import logging
import time
from datetime import UTC, datetime
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from faust.types import TP, EventT, StreamT
from opentelemetry import propagate, trace
from pydantic import BaseModel, ValidationError

from orderstream.contracts import decode
from orderstream.contracts.envelope import Message
from orderstream.domain import Decider
from orderstream.runtime.app import ContextApp, make_app
from orderstream.runtime.codec import encode, headers
from orderstream.runtime.deadletter import park
from orderstream.runtime.kafka import client_kwargs
from orderstream.runtime.retry import RetryPolicy
from orderstream.runtime.store import AggregateStore
from orderstream.saga.choreography import choreograph
from orderstream.saga.orchestration import orchestrate
from orderstream.saga.routing import reactions, routes
from orderstream.settings import SagaMode, Settings, load

log = logging.getLogger(__name__)
tracer = trace.get_tracer("orderstream")

PERMANENT = (ValidationError, ValueError, TypeError, KeyError, LookupError, AssertionError,
             UnicodeDecodeError, NotImplementedError)
RAW = {"key_serializer": "raw", "value_serializer": "raw"}


class UnknownMessage(ValueError):
    pass


class ActorSystem:
    """One bounded context on Faust: its topics, tables and agents."""

    def __init__(self, context: str, deciders: Sequence[Decider], settings: Settings | None = None):
        self.context = context
        self.settings = settings or load()
        self.app: ContextApp = make_app(context, self.settings)
        self.deciders = {d.name: d for d in deciders}
        self.route = {cls: d for d in deciders for cls in d.commands}
        self._topics: dict[str, Any] = {}
        self._edge: AIOKafkaProducer | None = None
        self._edge_lock = asyncio.Lock()
        self._closing: list[Callable[[], Awaitable[None]]] = []  # clients to close on shutdown
        self.position: dict[TP, int] = {}  # per partition read: the next offset to process
        self.app.on_before_shutdown.connect(self._close)
        self.retry = RetryPolicy(max_attempts=5, base_seconds=0.2, cap_seconds=5.0)
        self.commands = self.topic(f"{context}.commands")
        self.events = self.topic(f"{context}.events")
        self.deadletter = self.topic(f"{context}.deadletter")
        self.stores = {d.name: AggregateStore(self.app, d, self.settings.topic_partitions) for d in deciders}
        self.app.agent(self.commands, name=f"{context}-actor", concurrency=1)(self._actor)
        self.metrics = self.app.metrics

    def topic(self, name: str):
        if name not in self._topics:
            self._topics[name] = self.app.topic(self.settings.topic(name), **RAW)
        return self._topics[name]

    def state_of(self, table: str, key: str) -> BaseModel | None:
        return self.stores[table].get(key)

    async def caught_up(self, key: str, timeout: float = 5.0) -> bool:
        """Read-your-writes at the edge: has this worker processed every command that was on the
        partition of `key` when asked? A command accepted a moment ago (a 202) is then in the
        table, or it never was. Waits up to `timeout` for the actor to get there."""
        partitions = self.settings.topic_partitions
        tp = TP(self.commands.get_topic_name(), (murmur2(key.encode()) & 0x7FFFFFFF) % partitions)
        end = (await self.app.consumer.highwaters(tp))[tp]
        deadline = time.monotonic() + timeout
        while max(self.position.get(tp, 0), self.app.consumer._committed_offset.get(tp) or 0) < end:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def send(self, message: Message, key: str | None = None, context: str | None = None) -> None:
        """To the command topic of `context` (default: the message's own), keyed by aggregate id."""
        topic = self.topic(f"{context or message.context}.commands")
        await topic.send(key=(key or message.key).encode(), value=encode(message), headers=headers(message))

    async def send_now(self, message: Message) -> None:
        """From outside an agent (an HTTP view, a timer): on a producer of its own, acknowledged
        by the brokers before this returns — so a 202 means the command is in Kafka. (Faust's
        producer would, with exactly_once, put it in a transaction nobody commits.)"""
        async with self._edge_lock:  # concurrent first requests must not each start a producer
            if self._edge is None:
                producer = AIOKafkaProducer(acks="all", enable_idempotence=True, **client_kwargs(self.settings))
                await producer.start()
                self._edge = producer
        await self._edge.send_and_wait(self.settings.topic(f"{message.context}.commands"), encode(message),
                                       key=message.key.encode(), headers=headers(message))

    async def handle(self, key: str, message: Message, offset: int) -> list[Message]:
        """Decide `message` (the command record at `offset`) on its aggregate; a message this
        aggregate applied from another record already is a duplicate, answered with nothing."""
        decider = self.route.get(type(message))
        if decider is None:
            raise UnknownMessage(f"{self.context} does not handle {message.type}")
        store = self.stores[decider.name]
        before, seen = store.load(key, message)
        if seen.get(message.message_id, offset) != offset:
            self.metrics.duplicates.labels(self.context, message.type).inc()
            return []
        events = decider.decide(message, before)
        if not events:
            return []
        state = decider.fold(before, events)
        seen.pop(message.message_id, None)
        store.store(key, state, {**seen, message.message_id: offset})
        self.metrics.moved(decider.name, before, state)
        for event in events:
            await self.events.send(key=key.encode(), value=encode(event), headers=headers(event))
        for event in events:
            await self.publish(event, state)
        return events

    async def publish(self, event: Message, state: BaseModel) -> None:
        """Deliver an event to the aggregates that consume it as a reply, then send the commands
        it causes: the context's own reactions and the saga's next steps (see saga/routing.py)."""
        for context, _, key in routes(event):
            await self.send(event, key, context)
        commands = reactions(event)
        if self.settings.saga_mode == SagaMode.orchestration and event.context == "order":
            commands += orchestrate(state, event)
        elif self.settings.saga_mode == SagaMode.choreography:
            commands += choreograph(event)
        now = datetime.now(UTC)  # the agent is an edge: a step starts when it is sent
        for command in commands:
            await self.send(command.model_copy(update={"occurred_at": now}))

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
        message = decode(event.value)
        if isinstance(message, kinds):
            for command in await call(message):
                await self.send(command)

    async def _actor(self, stream: StreamT) -> None:
        async for event in stream.events():
            await self._guarded(event, self._process)

    async def _process(self, event: EventT) -> None:
        if not event.key:
            raise ValueError("message has no key: every command is keyed by its aggregate id")
        message = decode(event.value)
        with tracer.start_as_current_span(f"{self.context} {message.type}",
                                          context=propagate.extract(_carrier(event))):
            started = time.perf_counter()
            events = await self.handle(event.key.decode(), message, event.message.offset)
            self.metrics.processed(message.type, time.perf_counter() - started, events)

    async def _guarded(self, event: EventT, step: Callable[[EventT], Any]) -> None:
        """Run one step; park what can never succeed; retry what may; never kill the agent."""
        try:
            await self.retry.run(lambda: step(event), retry_on=(Exception,), never=PERMANENT,
                                 on_retry=lambda n, error, wait: self._log_retry(event, n, error, wait))
        except Exception as error:  # the agent must keep processing the rest
            self.metrics.deadletters.labels(self.context, event.message.topic, type(error).__name__).inc()
            await park(self.deadletter, event, error, self.context)
        self.app.last_progress = time.monotonic()
        tp = event.message.tp
        self.position[tp] = max(self.position.get(tp, 0), event.message.offset + 1)

    async def _close(self, app: ContextApp, **_: Any) -> None:
        for close in self._closing:
            await close()
        if self._edge is not None:
            await self._edge.stop()

    def _log_retry(self, event: EventT, attempt: int, error: BaseException, delay: float) -> None:
        m = event.message
        self.metrics.retries.labels(self.context, m.topic).inc()
        log.warning("%s: transient %s on %s[%s]@%s (attempt %d); retrying in %.2fs", self.context,
                    type(error).__name__, m.topic, m.partition, m.offset, attempt, delay)


def _carrier(event: EventT) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in (event.message.headers or [])}
