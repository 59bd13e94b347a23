"""Faust's aiokafka consumer with its read loop mended, so a fetched command is never skipped.

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
"""

import asyncio
from typing import Any

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP


class Consumer(faust_aiokafka.Consumer):
    epoch: int = 0  # moves on every seek and rebalance: a batch fetched before is stale

    async def perform_seek(self) -> None:
        self.epoch += 1
        await super().perform_seek()

    async def seek(self, partition: TP, offset: int) -> None:
        self.epoch += 1
        await super().seek(partition, offset)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self.epoch += 1
        await super().on_partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        self.epoch += 1
        await super().on_partitions_assigned(assigned, generation_id)

    async def _drain_messages(self, fetcher: Any) -> None:
        read = self._read_offset
        try:
            while not (self._stopped.is_set() or fetcher._stopped.is_set()):
                self.diag.set_flag(CONSUMER_FETCHING)
                epoch = self.epoch
                batch = self.getmany(timeout=1.0)
                await self.sleep(0)
                if self.should_stop:
                    continue
                async for tp, message in batch:
                    if self.epoch != epoch:
                        break  # fetched before a seek or rebalance: read again from the new position
                    offset, last = message.offset, read[tp]
                    if last is not None and offset < last:
                        continue  # delivered already (a fetch overlapping the previous one)
                    if last is not None and offset - last > 1 and self.app.topics.acks_enabled_for(message.topic):
                        await self._add_gap(tp, last + 1, offset)  # transaction markers
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
                        self._n_acked = 0
                        await self.commit()
                    delivery = self.callback(message)
                    handed = await self.wait_first(delivery, self.suspend_flow.wait())
                    if delivery not in handed.done or self.epoch != epoch:
                        break  # not handed over (flow suspended), or only after a seek
                    read[tp] = offset
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if not self.transport.app.should_stop:
                raise
        except asyncio.CancelledError:
            if not self.transport.app.should_stop:
                raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer
