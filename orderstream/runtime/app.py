"""One faust.App per bounded context: its own id, consumer group, datadir, web port, health."""

import logging
import os
import shutil
import sys
import time
from datetime import timedelta
from pathlib import Path

from typing import Any

import faust
from faust.sensors import Monitor as FaustMonitor
from faust.types import TP
from faust.web import Request, Response, View

from orderstream.runtime import topics
from orderstream.runtime.consumer import Transport
from orderstream.runtime.metrics import Metrics
from orderstream.runtime.tables import TableManager
from orderstream.runtime.kafka import broker_urls, faust_credentials
from orderstream.settings import Settings

log = logging.getLogger(__name__)

class MissingTopics(SystemExit):
    pass


class Monitor(FaustMonitor):
    """Faust's statistics sensor without its per-message bookkeeping (counters, timestamps and
    latency samples for every message in, out and sent, read by nobody here: the worker's own
    metrics are runtime/metrics.py). What Faust itself reads stays: when a stream last took an
    event (its slow-processing warnings) and the end and committed offsets."""

    def on_message_in(self, tp: TP, offset: int, message: Any) -> None:
        pass

    def on_stream_event_in(self, tp: TP, offset: int, stream: Any, event: Any) -> None:
        self.stream_inbound_time[tp] = time.monotonic()

    def on_stream_event_out(self, tp: TP, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        pass

    def on_message_out(self, tp: TP, offset: int, message: Any) -> None:
        pass

    def on_table_get(self, table: Any, key: Any) -> None:
        pass

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        pass

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int, valsize: int) -> None:
        pass

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        pass


class Worker(faust.Worker):
    """Faust's worker without its terminal spinner: to spin on every log line, the spinner turns
    the root logger to DEBUG at log levels from WARN up, and every debug call in Faust and
    aiokafka then builds a log record (a tenth of a worker's CPU) for nothing."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None


class ContextApp(faust.App):
    """A Faust app that refuses to start when its topics are missing, and knows its health."""

    context: str
    settings: Settings
    last_progress: float = 0.0
    ticked: float = 0.0  # when the loop last looked at the clock (see thawed)
    rebalancing_since: float = 0.0  # when /live first saw this rebalance; 0 when not rebalancing
    metrics: Metrics
    stuck_since: dict[TP, tuple[int, float]]

    async def on_first_start(self) -> None:
        await require_topics(self.settings, self.context)
        await super().on_first_start()

    def _new_transport(self) -> Transport:
        return Transport(self.conf.broker_consumer, self)

    def readiness(self) -> tuple[bool, str]:
        if self.rebalancing:
            return False, "rebalancing"
        if not self.tables.recovery.completed.is_set():
            return False, "recovering tables"
        if not self.consumer.assignment() and self.consumer_generation_id <= 0:
            return False, "waiting for partition assignment"
        return True, "ready"

    def liveness(self) -> tuple[bool, str]:
        """Stalled: messages wait on a partition an agent reads, yet nothing was processed for
        ORDERSTREAM_LIVENESS_STALL_SECONDS, or a rebalance has not ended in that time, table
        recovery aside (a replica whose session expired while it was paused may never rejoin
        its group: seen after SIGSTOP/SIGCONT). Changelog and
        standby partitions do not count."""
        now, window = time.monotonic(), self.settings.liveness_stall_seconds
        if self.rebalancing and not self.in_recovery:  # recovering tables is progress
            self.rebalancing_since = self.rebalancing_since or now
            if now - self.rebalancing_since >= window:
                return False, f"rebalancing for {now - self.rebalancing_since:.0f}s"
            return True, "live"
        self.rebalancing_since = 0.0
        idle = now - self.last_progress
        if idle < window:
            return True, "live"
        for tp, waiting in self.backlog().items():
            if waiting:
                return False, f"consumer stalled on {tp.topic}[{tp.partition}] for {idle:.0f}s"
        return True, "live"

    async def reread_stuck(self) -> None:
        """The safety net behind runtime/consumer.py: a partition whose committed offset has not
        moved for half the liveness window while messages wait is read again from that offset.
        A record the consumer skipped is processed then; one merely slow is processed twice,
        which every actor answers with its original outcome."""
        if self.rebalancing or not self.tables.recovery.completed.is_set():
            self.stuck_since.clear()
            return
        now, window = time.monotonic(), self.settings.liveness_stall_seconds / 2
        for tp, waiting in self.backlog().items():
            committed = self.consumer._committed_offset.get(tp) or 0
            seen = self.stuck_since.get(tp)
            if not waiting or seen is None or seen[0] != committed:
                self.stuck_since[tp] = (committed, now)
            elif now - seen[1] >= window:
                log.warning("%s: %s[%d] has not moved past offset %d for %.0fs while %d messages wait; "
                            "reading it again from there", self.context, tp.topic, tp.partition,
                            committed, now - seen[1], waiting)
                self.metrics.rereads.labels(self.context, tp.topic).inc()
                self.stuck_since[tp] = (committed, now)
                await self.consumer.seek(tp, committed)

    def thawed(self, tick: bool = True) -> bool:
        """Was this process frozen (SIGSTOP, a VM pause) for long enough to lose its group
        membership? The group drops a member whose last heartbeat (sent every heartbeat interval
        from the consumer's own thread) is a session old, so a freeze a heartbeat interval short
        of the session may have cost it its partitions. Another replica is processing them then;
        what this one still holds in memory is stale, and whatever it sends now would be a
        zombie's second answer. It must not send anything: it exits at once, and its supervisor
        starts it again clean (a paused replica was also seen never to rejoin). Asked on a
        timer and before every table write, which both move the clock on (`tick`), and before
        every request its producer sends, which does not: the producer starts sending while the
        worker starts, long before the timer runs."""
        now = time.monotonic()
        frozen = now - (self.ticked or now)
        if tick:
            self.ticked = now
        limit = self.conf.broker_session_timeout - self.conf.broker_heartbeat_interval - 1
        if frozen < limit:
            return False
        log.error("%s: this process was frozen for %.0fs, long enough to lose its %.0fs consumer "
                  "session: its partitions are another replica's now; exiting to start again clean",
                  self.context, frozen, self.conf.broker_session_timeout)
        logging.shutdown()
        os._exit(75)

    async def watch_clock(self) -> None:
        self.thawed()

    def backlog(self) -> dict[TP, int]:
        """Messages waiting on each assigned partition that an agent reads: the actors' queue depth."""
        sources = {topic for agent in self.agents.values() for topic in agent.channel.topics}
        committed = self.consumer._committed_offset  # what Faust last committed, per partition
        return {tp: max(0, (self.consumer.highwater(tp) or 0) - (committed.get(tp) or 0))
                for tp in self.consumer.assignment() if tp.topic in sources}


async def require_topics(settings: Settings, context: str) -> None:
    wanted = [s.name for s in topics.topics_for(settings) if context in s.consumers or s.owner == context]
    problems = [p for p in await topics.check(settings) if p.split(":")[0] in wanted]
    missing = [p for p in problems if p.endswith("missing")]
    if missing:
        raise MissingTopics(f"orderstream {context}: topics missing on {settings.kafka_bootstrap_servers}: "
                            + ", ".join(p.split(":")[0] for p in missing)
                            + "\n  create them with: orderstream topics apply")
    for problem in problems:
        log.warning("topic drift (run `orderstream topics apply`): %s", problem)


CLEAN_STOP = "stopped-cleanly"  # in a context's datadir while no worker runs on it, after a clean stop


def open_datadir(datadir: Path) -> None:
    """Keep the tables on disk only if the last worker on them stopped cleanly.

    Faust writes a table's RocksDB at once and the changelog record soon after. A worker killed
    in between (SIGKILL, the OOM killer, a frozen replica's exit) leaves rows on its disk that
    the changelog, and so every other replica, never got. Kept, they would be read instead of
    the changelog's; a command redelivered after the crash would find itself applied already
    and send nothing, so its events never reached Kafka (a chaos run found an order settled in
    its row and not in its events). After a stop that was not clean the tables are rebuilt from
    the changelogs, as Kafka Streams does with a store it has no checkpoint for."""
    tables = list(datadir.glob("v*/tables"))
    if tables and not (datadir / CLEAN_STOP).exists():
        print(f"{datadir}: the last worker on it did not stop cleanly; rebuilding its tables "
              "from the changelogs", file=sys.stderr, flush=True)  # before Faust's logging is set up
        for path in tables:
            shutil.rmtree(path)
    (datadir / CLEAN_STOP).unlink(missing_ok=True)  # a crash from here on leaves none


def stopped_cleanly(datadir: Path) -> None:
    """Faust flushed its producer and closed the tables: what the disk holds, the changelog has."""
    datadir.mkdir(parents=True, exist_ok=True)
    (datadir / CLEAN_STOP).touch()


def make_app(context: str, settings: Settings) -> ContextApp:
    port = settings.port_for(context)
    settings.datadir.mkdir(parents=True, exist_ok=True)
    advertised = settings.web_advertised_host or settings.web_host
    app = ContextApp(
        topics.app_id(settings, context),
        broker=broker_urls(settings),
        broker_credentials=faust_credentials(settings),
        store="rocksdb://",
        datadir=str(settings.datadir / context),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        table_standby_replicas=settings.table_standby_replicas,
        processing_guarantee=settings.processing_guarantee,
        web_host=settings.web_host,
        web_bind=settings.web_host,
        web_port=port,
        canonical_url=f"http://{advertised}:{port}",
        topic_allow_declare=True,
        topic_disable_leader=False,
        broker_commit_interval=timedelta(seconds=1),
        producer_linger=settings.producer_linger_ms / 1000,  # README, Load: 2 ms cut worker CPU ~10 %
        broker_session_timeout=20.0,  # a dead replica's partitions move in ~20s, not Faust's 60s
        broker_heartbeat_interval=3.0,
        # the member's URL travels in its assignment, which a static member gets back as it
        # was: the id names the replica at this port (a replica moved to another port is new)
        consumer_group_instance_id=f"{settings.group_instance_id}-{port}" if settings.group_instance_id else None,
        consumer_auto_offset_reset="earliest",
        web_in_thread=False,
        autodiscover=False,
        logging_config=None,
        Worker=Worker,
        Monitor=Monitor,
        TableManager=TableManager,
    )
    app.context = context
    app.settings = settings
    app.last_progress = time.monotonic()
    app.stuck_since = {}
    app.timer(interval=5.0, name=f"{context}-reread-stuck")(app.reread_stuck)
    app.timer(interval=1.0, name=f"{context}-thawed")(app.watch_clock)
    add_health(app)
    app.metrics = Metrics(app)
    app.metrics.serve(app)
    return app


def add_health(app: ContextApp) -> None:
    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            ok, reason = app.readiness()
            return self.json({"status": reason, "context": app.context}, status=200 if ok else 503)

    @app.page("/live")
    class Live(View):
        async def get(self, request: Request) -> Response:
            ok, reason = app.liveness()
            return self.json({"status": reason, "context": app.context}, status=200 if ok else 503)
