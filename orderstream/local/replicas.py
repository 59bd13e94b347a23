"""Every replica's tables against their changelogs, once the system has stopped.

A worker that stopped cleanly keeps its RocksDB tables and, when it starts again, reads only the
changelog records after the offset each table partition has stored. So each partition on disk
must hold exactly what its changelog says up to that offset: a row missing there is a row its
next owner does not have (README, bugs 8 and 11). A datadir whose worker did not stop cleanly is
rebuilt from the changelogs at its next start (runtime/app.py, open_datadir); it is skipped.
"""

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from rocksdict import AccessType, Rdict

from orderstream.local.audit import Violation
from orderstream.runtime import topics
from orderstream.runtime.app import CLEAN_STOP
from orderstream.runtime.kafka import client_kwargs
from orderstream.settings import Settings

OFFSET_KEY = b"__faust\x00offset__"  # where Faust keeps a partition's last applied offset


def partitions(root: Path) -> Iterator[tuple[str, str, str, int, Path]]:
    """(replica, context, table, partition, path) of every table partition a clean stop left."""
    for datadir in sorted(root.glob(f"data*/*/{CLEAN_STOP}")):
        for path in sorted(datadir.parent.glob("v*/tables/*.db")):
            if match := re.fullmatch(r"(.+)-(\d+)\.db", path.name):
                yield datadir.parts[-3], datadir.parts[-2], match[1], int(match[2]), path


async def changelogs(settings: Settings, wanted: set[tuple[str, int]]
                     ) -> dict[tuple[str, int], list[tuple[int, bytes, bytes | None]]]:
    """Every record of these changelog partitions, by (topic, partition), read by one consumer."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None, **client_kwargs(settings))
    await consumer.start()
    try:
        tps = [TopicPartition(topic, partition) for topic, partition in sorted(wanted)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends, records = await consumer.end_offsets(tps), {tp: [] for tp in tps}
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            for tp, batch in (await consumer.getmany(*pending, timeout_ms=1000)).items():
                records[tp] += [(r.offset, r.key, r.value) for r in batch if r.offset < ends[tp]]
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        return {(tp.topic, tp.partition): found for tp, found in records.items()}
    finally:
        await consumer.stop()


def compare(held: dict[bytes, bytes], records: list[tuple[int, bytes, bytes | None]]
            ) -> tuple[int, int, list[str]]:
    """(last offset applied, rows there, how the rows on disk differ from the changelog)."""
    applied = int(held.pop(OFFSET_KEY, b"-1"))
    expected: dict[bytes, bytes] = {}
    for offset, key, value in records:
        if offset > applied:
            break
        if value is None:
            expected.pop(key, None)
        else:
            expected[key] = value
    wrong = [f"{key.decode(errors='replace')} {'missing' if key not in held else 'extra' if key not in expected else 'differs'}"
             for key in sorted(expected.keys() | held.keys()) if expected.get(key) != held.get(key)]
    return applied, len(expected), wrong


def check(root: Path, settings: Settings) -> list[Violation]:
    found = []
    stored = [(replica, table, (topics.changelog(settings, context, table), partition), path)
              for replica, context, table, partition, path in partitions(root)]
    logs = asyncio.run(changelogs(settings, {log for _, _, log, _ in stored})) if stored else {}
    for replica, table, log, path in stored:
        db = Rdict(str(path), access_type=AccessType.read_only())
        try:
            held = dict(db.items())
        finally:
            db.close()
        applied, rows, wrong = compare(held, logs[log])
        if wrong:
            found.append(Violation("replica-table", f"{replica} {table}[{log[1]}]",
                                   f"{len(wrong)} of {rows} rows differ from the changelog up to "
                                   f"offset {applied}, e.g. {', '.join(wrong[:3])}"))
    return found
