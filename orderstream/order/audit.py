"""The audit trail of one order: every event of every context that carries its correlation id.

Read straight from the `<context>.events` topics (the event log), filtered on the
`correlation_id` header before anything is decoded, in time order.
"""

import json
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from orderstream.runtime.kafka import client_kwargs
from orderstream.settings import CONTEXTS, Settings


async def trail(settings: Settings, order_id: str, max_seconds: float = 10.0) -> list[dict]:
    consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None, **client_kwargs(settings))
    await consumer.start()
    try:
        partitions = [TopicPartition(settings.topic(f"{ctx}.events"), p) for ctx in CONTEXTS
                      for p in range(settings.topic_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        return sorted(await _collect(consumer, ends, order_id.encode(), max_seconds),
                      key=lambda e: (e["occurred_at"], e["context"]))
    finally:
        await consumer.stop()


async def _collect(consumer, ends: dict, wanted: bytes, max_seconds: float) -> list[dict]:
    found = []
    pending = {tp for tp, end in ends.items() if end > 0}
    deadline = time.monotonic() + max_seconds  # a bound in time: a loaded broker fetches slowly
    while pending and time.monotonic() < deadline:
        batch = await consumer.getmany(timeout_ms=200, max_records=5000)
        for tp, records in batch.items():
            for record in records:
                if dict(record.headers or ()).get("correlation_id") == wanted:
                    event = json.loads(record.value)
                    found.append({"context": tp.topic.rsplit(".", 2)[-2], **event})
            if records and records[-1].offset + 1 >= ends[tp]:
                pending.discard(tp)
    return found
