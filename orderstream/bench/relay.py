"""The baseline: a raw aiokafka relay chain on the same broker, to tell what orderstream's
throughput is worth against the cheapest possible chain of actors that writes as much.

An order is a token entering topic hop-0; relay hop i reads hop-i and forwards the token to
hop-(i+1) and writes its share of filler records (to a filler topic nobody reads), so an order
costs as many Kafka records as one orderstream order. Hops are spread round-robin over six
processes (like the six contexts); each has one consumer group and one producer (acks=all, as
the workers' producers), handles one message at a time like an actor, and — like Faust —
flushes its producer before committing offsets, once a second.

`python -m orderstream.bench.relay RUN HOPS FILLERS...` runs one relay process."""

import asyncio
import os
import signal
import sys
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from orderstream.bench import stats
from orderstream.runtime import topics
from orderstream.runtime.kafka import client_kwargs
from orderstream.settings import Settings, load

PROCESSES = 6
PAYLOAD = b"x" * 700  # about the average orderstream record (JSON + headers)


def hop_topic(run: str, hop: int) -> str:
    return f"bench-relay-{run}-hop-{hop}"


def filler_topic(run: str) -> str:
    return f"bench-relay-{run}-filler"


def relay_topics(run: str, hops: int) -> list[str]:
    return [hop_topic(run, i) for i in range(hops + 1)] + [filler_topic(run)]


async def relay(settings: Settings, run: str, hops: int, fillers: Sequence[int], process: int) -> None:
    """One relay process: the hops i with i % PROCESSES == process."""
    mine = {hop_topic(run, i): i for i in range(hops) if i % PROCESSES == process}
    kwargs = client_kwargs(settings)
    consumer = AIOKafkaConsumer(*mine, group_id=f"bench-relay-{run}-{process}", enable_auto_commit=False,
                                auto_offset_reset="earliest", **kwargs)
    producer = AIOKafkaProducer(acks="all", **kwargs)
    await producer.start()
    await consumer.start()
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        print("ready", flush=True)
        done: dict[TopicPartition, int] = {}
        committed = time.monotonic()
        async for message in consumer:
            hop = mine[message.topic]
            for _ in range(fillers[hop]):
                await producer.send(filler_topic(run), PAYLOAD, key=message.key)
            await producer.send(hop_topic(run, hop + 1), message.value, key=message.key)
            done[TopicPartition(message.topic, message.partition)] = message.offset + 1
            if time.monotonic() - committed >= 1.0:  # as Faust: flush, then commit what moved
                await producer.flush()
                await consumer.commit(done)
                done, committed = {}, time.monotonic()
    finally:
        await consumer.stop()
        await producer.stop()


class Chain:
    """The relay processes of one run, its topics, and a driver that sends tokens and waits for
    them at the end of the chain."""

    def __init__(self, settings: Settings, run: str, hops: int, messages_per_order: int):
        self.settings, self.run, self.hops = settings, run, hops
        self.fillers = stats.fillers(messages_per_order, hops)
        self.procs: list[asyncio.subprocess.Process] = []
        self.waiting: dict[bytes, asyncio.Future] = {}

    async def __aenter__(self) -> "Chain":
        await topics.create_scratch(self.settings, relay_topics(self.run, self.hops))
        bootstrap = self.settings.kafka_bootstrap_servers
        try:
            for process in range(min(PROCESSES, self.hops)):
                self.procs.append(await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "orderstream.bench.relay", self.run, str(self.hops), str(process),
                    *map(str, self.fillers), stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
                    env=os.environ | {"ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS": bootstrap}))
            for proc in self.procs:
                line = await asyncio.wait_for(proc.stdout.readline(), 90)
                if line.strip() != b"ready":
                    raise RuntimeError(f"relay process {proc.pid} did not start (exit {proc.returncode})")
            kwargs = client_kwargs(self.settings)
            self.producer = AIOKafkaProducer(acks="all", **kwargs)
            self.consumer = AIOKafkaConsumer(hop_topic(self.run, self.hops), auto_offset_reset="earliest",
                                             **kwargs)
            await self.producer.start()
            await self.consumer.start()
            self.reader = asyncio.create_task(self._read())
        except BaseException:
            await self.__aexit__()
            raise
        return self

    @property
    def pids(self) -> dict[str, int]:
        return {f"relay-{i}": proc.pid for i, proc in enumerate(self.procs)}

    async def _read(self) -> None:
        async for message in self.consumer:
            future = self.waiting.pop(message.key, None)
            if future is not None and not future.done():
                future.set_result(time.monotonic())

    async def one(self, key: str) -> tuple[float, str]:
        """Send one token (acknowledged, as an accepted order is); when it leaves the last hop."""
        future = asyncio.get_running_loop().create_future()
        self.waiting[key.encode()] = future
        await self.producer.send_and_wait(hop_topic(self.run, 0), PAYLOAD, key=key.encode())
        try:
            return await asyncio.wait_for(future, 120), "relayed"
        except TimeoutError:
            self.waiting.pop(key.encode(), None)
            return time.monotonic(), "unsettled"

    async def __aexit__(self, *exc) -> None:
        if hasattr(self, "reader"):
            self.reader.cancel()
        for client in ("consumer", "producer"):
            if hasattr(self, client):
                await getattr(self, client).stop()
        for proc in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await topics.delete_scratch(self.settings, relay_topics(self.run, self.hops))


def main(argv: list[str]) -> int:
    run, hops, process, *fillers = argv
    loop = asyncio.new_event_loop()
    task = loop.create_task(relay(load(), run, int(hops), [int(f) for f in fillers], int(process)))
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        loop.run_until_complete(task)
    except asyncio.CancelledError:
        pass
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
