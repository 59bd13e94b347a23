"""Faust's aiokafka consumer and producer, mended so a fetched command is never skipped and a
commit never passes a table write not yet sent (see Producer).

faust-streaming's `Consumer._drain_messages` hands each fetched record to the agents and then
notes its offset as read; records below the read offset are dropped unacknowledged. Around a
rebalance two things move that note past records nobody processed (faust-streaming #216, #221):

- the flow is suspended while a record is being handed over: the hand-over is abandoned, yet the
  offset is noted as read;
- a batch fetched before the rebalance's seek back to the committed offset is handed over after
  it, noting an offset far beyond the one the seek set.

The records in between were then dropped: the commit stayed behind them and they waited for the
next restart, or, once a later gap was bridged, were lost. Here a record counts as read only
once it was handed over, and only in the epoch (seek, rebalance) in which it was fetched.
`Watchdog` (runtime/app.py) is the safety net behind this: a partition whose commit is stuck
behind processed records is read again from the committed offset.

A record is also dropped when its partition was sought after it was fetched, or when a
rebalance or a seek cut its batch short; its partition is then read again from the right place
(`_drain_messages`). `refetch` reads changelog partitions again when table recovery dropped
what it had fetched (runtime/tables.py).
"""

import asyncio
import logging
import os
from collections import deque
from functools import partial
from typing import Any, Callable, Mapping

from aiokafka import AIOKafkaClient
from aiokafka.errors import IllegalStateError
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

log = logging.getLogger(__name__)


class Consumer(faust_aiokafka.Consumer):
    epoch: int = 0  # moves on every rebalance: a batch fetched before is stale

    def __post_init__(self) -> None:
        super().__post_init__()
        self.expected: dict[TP, int] = {}  # per partition: the next offset to hand over
        self.sought: dict[TP, int] = {}  # per partition: moves on every seek
        self.sought_to: dict[TP, int] = {}  # per partition: where its last seek went

    def _sought(self, positions: Mapping[TP, int]) -> None:
        for tp in positions:
            self.sought[tp] = self.sought.get(tp, 0) + 1
        self.sought_to.update(positions)

    def refetch(self, positions: Mapping[TP, int]) -> None:
        """Fetch these partitions (those still assigned here) again from these offsets."""
        assigned = self.assignment()
        for tp, offset in positions.items():
            if tp in assigned:
                self._seek_now(tp, offset)

    def _seek_now(self, tp: TP, offset: int) -> None:
        """Seek, counted (see _drain_messages), in aiokafka's own thread, where it runs before
        anything asked of that thread after this call. Made from this thread, as Faust made it,
        a seek raced the fetcher, which crashed on records deleted under it (KeyError in
        `fetched_records`)."""
        self._sought({tp: offset})
        self._thread.thread_loop.call_soon_threadsafe(self._seek_there, tp, offset)
        self.expected[tp] = offset

    def _seek_there(self, tp: TP, offset: int) -> None:
        try:
            self._thread.seek(tp, offset)
        except IllegalStateError:
            pass  # no longer assigned here: nothing to read again

    async def _seek(self, partition: TP, offset: int) -> None:  # Faust's `seek` comes here
        self._seek_now(partition, offset)

    async def perform_seek(self) -> None:
        """Each partition's reading starts at its committed offset; one never committed to is
        sought to its log's start. Faust seeks only the first, and a batch it dropped while the
        flow was suspended left aiokafka's position past the second's records: a replica that
        took over a partition no one had committed yet read it from there, and committed over 41
        accepted orders (README, bug 16). A first batch that starts elsewhere is still caught as
        a skip and read again (`_skipped`)."""
        self.epoch += 1
        await super().perform_seek()
        sought = {tp: offset for tp, offset in self._read_offset.items() if offset is not None}
        fresh = [tp for tp, offset in self._read_offset.items()
                 if offset is None and self.app.topics.acks_enabled_for(tp.topic)]
        starts = await self.earliest_offsets(*fresh) if fresh else {}
        self._sought(sought)
        self.expected.clear()
        self.expected.update(sought)
        for tp, start in starts.items():
            self._seek_now(tp, start or 0)

    async def seek_wait(self, partitions: Any) -> None:
        """Table recovery seeks changelog partitions here (a standby's too, when it becomes
        active and reads again from what its store holds)."""
        self._sought(partitions)
        await super().seek_wait(partitions)
        for tp, offset in partitions.items():
            if offset > 0:
                self.expected[tp] = offset
            else:
                self.expected.pop(tp, None)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self.epoch += 1
        for tp in revoked:
            self.expected.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        self.epoch += 1
        await super().on_partitions_assigned(assigned, generation_id)

    def _new_offset(self, tp: TP) -> int | None:
        """Faust lets a commit start one past its last commit (`min(acked) - committed > 1`
        holds it back only from two past): never pass a record nobody acknowledged."""
        acked, committed = self._acked[tp], self._committed_offset[tp]
        if acked and committed:
            gaps = self._gap[tp].overlap(0, max(acked)) if self._gap[tp] else ()
            if min([min(acked), *(gap.begin for gap in gaps)]) > committed:
                return None
        return super()._new_offset(tp)

    async def _skipped(self, tp: TP, expected: int, offset: int) -> bool:
        """A record came after `expected` without it. In a transaction's topic the offsets in
        between are its markers; where the log starts after `expected` (retention), they are
        gone. Anything else was skipped by a fetch: seek back to it (True)."""
        if self.in_transaction:
            return False
        start = (await self.earliest_offsets(tp)).get(tp) or 0
        if start > expected:
            return False
        log.warning("%s[%d]: got offset %d before %d; reading again from %d",
                    tp.topic, tp.partition, offset, expected, expected)
        await self.seek(tp, expected)
        return True

    async def _drain_messages(self, fetcher: Any) -> None:
        """Hand each fetched record over once, in order. A record fetched before its partition
        was sought, or before a rebalance, is not handed over; nor is one whose hand-over the
        flow's suspension cut short, nor any after it in its partition. Such a partition is
        then read again (`_read_again`): aiokafka's position is already past what it fetched,
        and a changelog partition would otherwise lose those records for good (a standby
        table missing rows, README bug 11)."""
        read, expected = self._read_offset, self.expected
        try:
            while not (self._stopped.is_set() or fetcher._stopped.is_set()):
                self.diag.set_flag(CONSUMER_FETCHING)
                epoch, sought = self.epoch, self.sought.copy()
                moved = self.sought.get
                batch = self.getmany(timeout=1.0)
                await self.sleep(0)
                if self.should_stop:
                    continue
                missed: dict[TP, int] = {}  # per partition: its first record not handed over
                async for tp, message in batch:
                    offset, want = message.offset, expected.get(tp)
                    if tp in missed or self.epoch != epoch or moved(tp) != sought.get(tp):
                        missed.setdefault(tp, offset)
                        continue
                    if want is not None and offset < want:
                        continue  # handed over already (a fetch overlapping the previous one)
                    if want is not None and offset > want and self.app.topics.acks_enabled_for(message.topic):
                        if await self._skipped(tp, want, offset):
                            missed.setdefault(tp, offset)
                            continue
                        await self._add_gap(tp, want, offset)
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
                        self._n_acked = 0
                        await self.commit()
                    delivery = self.callback(message)
                    handed = await self.wait_first(delivery, self.suspend_flow.wait())
                    if delivery not in handed.done or self.epoch != epoch or moved(tp) != sought.get(tp):
                        missed.setdefault(tp, offset)  # not handed over, or only after a seek
                        continue
                    read[tp], expected[tp] = offset, offset + 1
                if missed:
                    self._read_again(missed, sought)
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if not self.transport.app.should_stop:
                raise
        except asyncio.CancelledError:
            if not self.transport.app.should_stop:
                raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    def _read_again(self, missed: Mapping[TP, int], sought: Mapping[TP, int]) -> None:
        """Seek each partition with records not handed over to where reading must go on: a
        partition sought since the fetch to that seek's offset (re-stated: a fetch made after
        it may have been dropped here), any other to the first record it did not hand over."""
        self.refetch({tp: self.sought_to[tp] if self.sought.get(tp) != sought.get(tp)
                      else self.expected.get(tp, first) for tp, first in missed.items()})


class Producer(faust_aiokafka.Producer):
    """Faust's aiokafka producer whose flush waits for every table changelog write.

    Faust flushes the producer before it commits offsets, so nothing a processed record caused
    is lost to a crash after the commit. But its buffer's flush (the table writes, sent soon
    rather than at once) gives up when no message left the buffer for 0.1 s, and never counts
    the one being handed to aiokafka: on a busy worker the commit passed changelog writes not
    yet sent, and a SIGKILL then lost rows whose commands were committed (accepted orders that
    never existed on the replica that took the partition over). Here flush waits until every
    such write is acknowledged (or failed)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.unsent: set[asyncio.Future] = set()
        self.gate = Gate(super().send_soon, lost=self._lost)

    async def on_start(self) -> None:
        await super().on_start()
        fence(self._producer.client, lambda: self.app.thawed(tick=False))

    def send_soon(self, fut: Any) -> None:
        self.unsent.add(fut)
        fut.add_done_callback(self.unsent.discard)
        self.gate.send(fut)

    def _lost(self, error: BaseException) -> None:
        """Kafka refused what a batch caused (its delivery timed out): the batch's rows must not
        reach the changelog, and its commands must be read again. Only a restart does both."""
        log.error("a batch's messages were not delivered (%r): exiting to read its commands "
                  "again", error)
        logging.shutdown()
        os._exit(75)

    async def flush(self) -> None:
        await super().flush()
        while self.unsent:
            await asyncio.wait(list(self.unsent))


class Gate:
    """Holds table writes back until the messages of the batch that made them are in Kafka.

    A row's changelog record that lands before its batch's events and commands, followed by a
    crash, loses those for good: the redelivered command meets a row that has moved on (README,
    bug 15). Held here, a crash leaves the changelog as it was, and the redelivery decides again
    on it and sends the same messages. The actor loop does not wait: rows are written to RocksDB
    at once and read by the next batch; only their changelog records wait, in the order written.
    A batch that sends nothing holds nothing of its own, but its writes queue behind those
    held before them."""

    def __init__(self, send: Callable[[Any], None], lost: Callable[[BaseException], None]):
        self._send, self._lost = send, lost
        self.groups: deque[list] = deque()  # [acknowledgements awaited, writes held], oldest first

    def hold(self, acks: list[asyncio.Future]) -> None:
        """The writes from now on wait until Kafka has acknowledged `acks`, and every earlier
        batch's."""
        if acks:
            group = [len(acks), []]
            self.groups.append(group)
            for ack in acks:
                ack.add_done_callback(partial(self._acked, group))

    def send(self, write: Any) -> None:
        if self.groups:
            self.groups[-1][1].append(write)
        else:
            self._send(write)

    def _acked(self, group: list, ack: asyncio.Future) -> None:
        error = asyncio.CancelledError() if ack.cancelled() else ack.exception()
        if error is not None:
            self._lost(error)
            return
        group[0] -= 1
        while self.groups and self.groups[0][0] == 0:
            for write in self.groups.popleft()[1]:
                self._send(write)


def fence(client: AIOKafkaClient, thawed: Callable[[], object]) -> None:
    """Ask `thawed` (ContextApp.thawed, not moving its clock) before every request this client
    sends.

    Woken from a freeze, a process may first run its producer's sender, which hands Kafka the
    records queued before the freeze: a zombie's table rows and events, landing after those of
    the replica that took its partitions over. A chaos run found a payment's changelog set back
    that way to a row of 30 s before (README, bug 12). `thawed` exits such a process first."""
    send = client.send

    async def checked(node_id: int, request: Any, **kwargs: Any) -> Any:
        thawed()
        return await send(node_id, request, **kwargs)

    client.send = checked


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer
    Producer = Producer
