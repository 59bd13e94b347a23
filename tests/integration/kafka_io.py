"""Reading and writing topics directly, as an operator with kafka-console-* would."""

import asyncio
import json
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


def produce(bootstrap: str, topic: str, key: bytes | None, value: bytes,
            headers: list[tuple[str, bytes]] | None = None) -> None:
    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
        finally:
            await producer.stop()

    asyncio.run(run())


def read_all(bootstrap: str, topic: str, until=None, timeout: float = 30.0) -> list:
    """Every record of `topic` from the start; waits until `until(records)` holds or time is up."""
    async def run() -> list:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                    enable_auto_commit=False, group_id=None)
        await consumer.start()
        records: list = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                records += [r for rs in batch.values() for r in rs]
                if until is not None and until(records):
                    break
                if until is None and not batch and records:
                    break
        finally:
            await consumer.stop()
        return records

    return asyncio.run(run())


def values(records: list) -> list[dict]:
    return [json.loads(r.value) for r in records]
