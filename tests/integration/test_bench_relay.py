"""The bench's baseline on the real broker: a relay chain in six real processes carries every
token through its hops and writes exactly the records per order it was asked to; its topics
are gone afterwards. And the offsets probe sees every topic, internal ones included."""

import asyncio

import pytest

from orderstream.bench import probes, relay as chain
from orderstream.bench.run import Options, relay
from orderstream.runtime.kafka import admin
from orderstream.settings import Settings

pytestmark = pytest.mark.kafka


async def topic_names(settings: Settings) -> set[str]:
    client = admin(settings)
    await client.start()
    try:
        return set(await client.list_topics())
    finally:
        await client.close()


def test_relay_chain_carries_every_order_with_the_records_asked_for(kafka_bootstrap):
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_partitions=4)
    options = Options(relay_hops=3, progress=False)

    async def scenario():
        async with probes.Offsets(settings) as offsets:
            result = await relay(options, settings, offsets, messages_per_order=10, orders=20, concurrency=5,
                                 broker_pid=None)
            after = await offsets.snapshot()
        return result, after, await topic_names(settings)

    result, snapshot, names = asyncio.run(scenario())
    assert result["outcomes"] == {"relayed": 20}
    assert result["orders_per_second"] > 0 and result["latency_ms"]["p50"] > 0
    relayed = {t: n for t, n in result["messages_by_topic"].items() if t.startswith("bench-relay-")}
    # token in + 3 hops forward it + 2 fillers per hop
    assert sorted(relayed.values()) == [1.0, 1.0, 1.0, 1.0, 6.0]
    assert result["messages_per_order"] >= 10
    assert set(result["cpu_ms_per_order"]) == {"relay-0", "relay-1", "relay-2", "total"}
    assert "__consumer_offsets" in snapshot
    assert not any(name.startswith("bench-relay-") for name in names)


def test_relay_topics_are_unique_per_run():
    assert chain.relay_topics("a", 2) == ["bench-relay-a-hop-0", "bench-relay-a-hop-1", "bench-relay-a-hop-2",
                                          "bench-relay-a-filler"]
