"""Actor metrics, the seed's "Monitoring and Observability", as Prometheus text at GET /metrics.

- processing time per message type (`orderstream_message_seconds`),
- queue depth: messages waiting on each partition an agent reads (`orderstream_queue_depth`),
- failure rates: retries and dead letters (`orderstream_retries_total`, `orderstream_deadletters_total`),
- state transition counts per aggregate kind (`orderstream_state_transitions_total`),
- domain events appended to the event log (`orderstream_events_total`),
- circuit breakers of the external services a worker calls: state (`orderstream_breaker_state`,
  1 for the current state) and transitions (`orderstream_breaker_transitions_total`),
- the saga, as the order worker sees it: step durations by step and outcome
  (`orderstream_saga_step_seconds`), compensations by reason (`orderstream_compensations_total`),
- aggregates this worker owns by status, for the kinds its app counts (`orderstream_aggregates`:
  orders).

Each worker has its own registry, so a scrape of one replica reports that replica's work.
"""

from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from orderstream.runtime.app import ContextApp


class QueueDepth(Collector):
    """Read at scrape time from the consumer, so it is never stale."""

    def __init__(self, app: "ContextApp"):
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("orderstream_queue_depth",
                                  "Messages waiting on a partition this worker's agents read",
                                  labels=["context", "topic", "partition"])
        for tp, waiting in self.app.backlog().items():
            depth.add_metric([self.app.context, tp.topic, str(tp.partition)], waiting)
        yield depth


class Breaker(Protocol):
    """What metrics need of a circuit breaker (orderstream.adapters.breaker)."""
    name: str

    @property
    def state(self) -> Enum: ...

    def on_transition(self, listener: Callable[[Enum, Enum], None]) -> None: ...


class BreakerStates(Collector):
    """One sample per state of each breaker: 1 for the state it is in, 0 for the others."""

    def __init__(self, context: str, breakers: Iterable[Breaker]):
        self.context = context
        self.breakers = breakers

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("orderstream_breaker_state",
                                  "Circuit breaker of an external service: 1 for its current state",
                                  labels=["context", "service", "state"])
        for breaker in self.breakers:
            for state in type(breaker.state):
                gauge.add_metric([self.context, breaker.name, state.value],
                                 1.0 if state is breaker.state else 0.0)
        yield gauge


class Census(Collector):
    """Aggregates of some kinds by status, on the partitions this worker owns: counted from the
    table once when the worker gets a partition (`refresh`), then kept by the status changes it
    writes (`written`), so a scrape reads no table."""

    def __init__(self, context: str):
        self.context = context
        self.stores: dict[str, "Counted"] = {}
        self.counts: dict[tuple[str, int], Tally] = {}

    def count(self, name: str, store: "Counted") -> None:
        self.stores[name] = store

    def refresh(self, partitions: set[int]) -> None:
        for name, store in self.stores.items():
            for key in [k for k in self.counts if k[0] == name and k[1] not in partitions]:
                del self.counts[key]
            for partition in partitions:
                if (name, partition) not in self.counts:
                    self.counts[(name, partition)] = Tally(store.statuses(partition))

    def written(self, name: str, partition: int, old: str | None, new: str | None) -> None:
        tally = self.counts.get((name, partition))
        if tally is not None and old != new:
            tally[old] -= 1
            tally[new] += 1

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("orderstream_aggregates", "Aggregates this worker owns, by status",
                                  labels=["context", "aggregate", "status"])
        totals: Tally = Tally()
        for (name, _), tally in self.counts.items():
            for status, n in tally.items():
                totals[(name, status)] += n
        for (name, status), n in sorted(totals.items(), key=str):
            if status is not None:
                gauge.add_metric([self.context, name, status], n)
        yield gauge


class Counted(Protocol):
    """What the census needs of a table (orderstream.runtime.store.AggregateStore)."""

    def statuses(self, partition: int) -> Iterable[str | None]: ...


class Metrics:
    def __init__(self, app: "ContextApp"):
        self.context = app.context
        self.registry = CollectorRegistry()
        labels = ["context", "type"]
        self.seconds = Histogram("orderstream_message_seconds", "Time an actor took to process a message",
                                 labels, registry=self.registry,
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.events = Counter("orderstream_events", "Domain events appended to the event log",
                              labels, registry=self.registry)
        self.transitions = Counter("orderstream_state_transitions", "Aggregate status changes",
                                   ["context", "aggregate", "from_status", "to_status"], registry=self.registry)
        self.retries = Counter("orderstream_retries", "Transient failures retried with backoff",
                               ["context", "topic"], registry=self.registry)
        self.deadletters = Counter("orderstream_deadletters", "Messages parked on the dead-letter topic",
                                   ["context", "topic", "error"], registry=self.registry)
        self.rereads = Counter("orderstream_rereads", "Partitions read again from their committed offset "
                               "because it stopped moving while messages waited", ["context", "topic"],
                               registry=self.registry)
        self.duplicates = Counter("orderstream_duplicates", "Messages an aggregate had applied from "
                                  "another record already, answered with nothing", labels,
                                  registry=self.registry)
        self.breaker_transitions = Counter(
            "orderstream_breaker_transitions", "Circuit breaker state changes",
            ["context", "service", "from_state", "to_state"], registry=self.registry)
        self.saga_steps = Histogram(
            "orderstream_saga_step_seconds", "Time from the start of a saga step to its outcome",
            ["context", "step", "outcome"], registry=self.registry,
            buckets=(.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400))
        self.compensations = Counter("orderstream_compensations", "Compensations requested, by why",
                                     ["context", "compensation", "reason"], registry=self.registry)
        self.census = Census(self.context)
        self._breakers: list[Breaker] = []
        self.registry.register(self.census)
        self.registry.register(QueueDepth(app))
        self.registry.register(BreakerStates(self.context, self._breakers))

    def watch_breaker(self, breaker: Breaker) -> None:
        """Expose a circuit breaker: its state at every scrape, and a count of its transitions."""
        self._breakers.append(breaker)
        breaker.on_transition(lambda old, new: self.breaker_transitions.labels(
            self.context, breaker.name, old.value, new.value).inc())

    def processed(self, type_: str, seconds: float, events: list) -> None:
        self.seconds.labels(self.context, type_).observe(seconds)
        for event in events:
            self.events.labels(self.context, event.type).inc()

    def moved(self, aggregate: str, before: object, after: object) -> None:
        old, new = getattr(before, "status", None), getattr(after, "status", None)
        if old != new:
            self.transitions.labels(self.context, aggregate, str(old or "none"), str(new or "none")).inc()

    def serve(self, app: "ContextApp") -> None:
        registry = self.registry

        @app.page("/metrics")
        class Scrape(View):
            async def get(self, request: Request) -> Response:
                return self.bytes(generate_latest(registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])
