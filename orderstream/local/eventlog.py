"""Reading a whole system back for the audit: every event log, dead-letter topic and command
topic from its start to where it ends now, without a consumer group; and, optionally, the
gateway's books and the workers' current rows over HTTP.

Events are folded into the audit's books as they arrive (a run's logs need not fit in memory
twice); each partition is read in order, so each aggregate's events keep theirs. Command topics
are read for their headers only: the poison a chaos run injected, and the CreateOrder commands
the order API accepted (each one a 202 that must become an order).
"""

import asyncio
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from aiokafka import AIOKafkaConsumer, TopicPartition

from orderstream.contracts import decode
from orderstream.local.audit import POISON_HEADER, DeadLetter, Gateway, Report, Where, check
from orderstream.local.books import Books
from orderstream.runtime.kafka import client_kwargs
from orderstream.settings import CONTEXTS, Settings

KINDS = ("events", "deadletter", "commands")


@dataclass
class Recorded:
    books: Books = field(default_factory=Books)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    poison: set[Where] = field(default_factory=set)
    accepted: set[str] = field(default_factory=set)
    undecodable: list[str] = field(default_factory=list)
    records: int = 0

    def take(self, context: str, kind: str, record) -> None:
        self.records += 1
        where = Where(record.topic, record.partition, record.offset)
        headers = dict(record.headers or ())
        if kind == "events":
            try:
                self.books.add(decode(record.value))
            except ValueError as error:
                self.undecodable.append(f"{where}: {str(error).splitlines()[0]}")
        elif kind == "deadletter":
            self.dead_letters.append(dead_letter(headers, where))
        elif POISON_HEADER in headers:
            self.poison.add(where)
        elif context == "order" and headers.get("type") == b"CreateOrder" and record.key:
            self.accepted.add(record.key.decode(errors="replace"))


def dead_letter(headers: dict[str, bytes], where: Where) -> DeadLetter:
    def text(name: str, default: str = "?") -> str:
        return headers[name].decode(errors="replace") if name in headers else default

    source = Where(text("x-dlq-topic", where.topic), int(text("x-dlq-partition", "-1")),
                   int(text("x-dlq-offset", "-1")))
    reason = text("x-dlq-exception").splitlines()[0][:300]
    return DeadLetter(source, f"{reason} (parked at {text('x-dlq-at')})",
                      injected=POISON_HEADER in headers)


async def read(settings: Settings, max_seconds: float = 900.0) -> Recorded:
    """Every record of the system's topics up to their current ends."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None,
                                max_partition_fetch_bytes=8 * 2**20, fetch_max_bytes=64 * 2**20,
                                **client_kwargs(settings))
    await consumer.start()
    try:
        kinds = {settings.topic(f"{ctx}.{kind}"): (ctx, kind) for ctx in CONTEXTS for kind in KINDS}
        partitions = [TopicPartition(topic, p) for topic in kinds
                      for p in range(settings.topic_partitions)]  # the same for every topic
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        return await _drain(consumer, kinds, ends, time.monotonic() + max_seconds)
    finally:
        await consumer.stop()


async def _drain(consumer: AIOKafkaConsumer, kinds: dict, ends: dict, deadline: float) -> Recorded:
    recorded = Recorded()
    pending = {tp for tp, end in ends.items() if end > 0}
    while pending:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the topics were not read to their ends in time; "
                               f"{len(pending)} partitions left, e.g. {next(iter(pending))}")
        batch = await consumer.getmany(*pending, timeout_ms=500, max_records=20_000)
        for tp, records in batch.items():
            context, kind = kinds[tp.topic]
            for record in records:
                if record.offset < ends[tp]:
                    recorded.take(context, kind, record)
        for tp in list(pending):
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
                consumer.pause(tp)
    return recorded


def fetch_json(url: str, timeout: float = 30.0) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def gateway_stats(simulator_url: str) -> dict:
    stats = fetch_json(f"{simulator_url.rstrip('/')}/v1/stats")
    if stats is None:
        raise RuntimeError(f"the simulator at {simulator_url} did not answer GET /v1/stats")
    return stats


def rows(books: Books, catalog_url: str | None, account_url: str | None) -> dict[str, dict]:
    """The products' and accounts' current rows, as their workers show them."""
    wanted = [(f"product/{p}", f"{catalog_url}/products/{quote(p, safe='')}")
              for p in books.products if catalog_url]
    wanted += [(f"account/{a}", f"{account_url}/accounts/{quote(a, safe='')}")
               for a in books.opened if account_url]
    found = {}
    for name, url in wanted:
        for _ in range(5):
            if (row := fetch_json(url)) is not None:
                found[name] = row
                break
            time.sleep(1)
    return found


def read_sync(settings: Settings) -> Recorded:
    return asyncio.run(read(settings))


def audit_system(settings: Settings, *, simulator: str | None = None, settled: bool = False,
                 grace: float = 30.0, catalog_url: str | None = None,
                 account_url: str | None = None, accepted: set[str] | None = None) -> Report:
    """Read the system back and audit it (see audit.py)."""
    now = datetime.now(UTC)
    recorded = read_sync(settings)
    gateway = Gateway.from_stats(gateway_stats(simulator)) if simulator else None
    return check(recorded.books, now=now, dead_letters=recorded.dead_letters,
                 poison=recorded.poison, accepted=recorded.accepted | (accepted or set()),
                 undecodable=recorded.undecodable, gateway=gateway,
                 rows=rows(recorded.books, catalog_url, account_url), settled=settled,
                 grace=timedelta(seconds=grace))
