"""Where a worker starts reading its partitions after a rebalance (runtime/consumer.py): at the
committed offset, or, for a partition no one has committed to yet, at its log's start, sought
there even when aiokafka's position is already past it. A first batch that starts anywhere else
is then a skip, read again from there, never committed over (README, bug 16). Faust's seek and
the broker's offsets are stand-ins here; the rebalance storm in tests/integration/test_order_crash.py
runs the real ones."""

import asyncio
from types import SimpleNamespace

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from orderstream.runtime.consumer import Consumer

COMMITTED, FRESH, CHANGELOG = TP("order.commands", 0), TP("order.commands", 1), TP("orders-changelog", 1)


def test_a_partition_no_one_committed_to_is_read_from_its_logs_start(monkeypatch):
    asked: list[tuple] = []

    async def seek_to_committed(self):  # Faust: the committed offsets, None where there is none
        self._read_offset.update({COMMITTED: 12, FRESH: None, CHANGELOG: None})

    async def earliest_offsets(self, *partitions):
        asked.append(partitions)
        return {tp: 3 for tp in partitions}  # retention removed offsets 0-2

    monkeypatch.setattr(faust_aiokafka.Consumer, "perform_seek", seek_to_committed)
    monkeypatch.setattr(Consumer, "earliest_offsets", earliest_offsets)
    consumer = object.__new__(Consumer)
    consumer.epoch, consumer.sought, consumer.sought_to = 0, {}, {}
    consumer.expected, consumer._read_offset = {FRESH: 40}, {}
    consumer.app = SimpleNamespace(topics=SimpleNamespace(acks_enabled_for=lambda topic: topic.endswith("commands")))
    seeks: list[tuple[TP, int]] = []  # what aiokafka's thread was asked to do
    consumer._thread = SimpleNamespace(seek=lambda tp, offset: seeks.append((tp, offset)),
                                       thread_loop=SimpleNamespace(call_soon_threadsafe=lambda f, *a: f(*a)))

    asyncio.run(consumer.perform_seek())

    assert consumer.expected == {COMMITTED: 12, FRESH: 3}  # changelogs: table recovery's own seeks
    assert asked == [(FRESH,)]
    assert seeks == [(FRESH, 3)]  # Faust sought COMMITTED itself; aiokafka may be past 3 on FRESH
    assert consumer.sought_to == {COMMITTED: 12, FRESH: 3}  # a batch fetched before is read again
