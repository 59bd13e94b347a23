"""A batch's rows reach the changelog only once Kafka has every message the batch caused: a crash
in between leaves the changelog as it was, and the redelivered commands send the same messages
again. (Rows first lost a failed order's events for good: README, bug 15.) The acknowledgements
are futures the test resolves; the real producer is exercised on Kafka by the chaos runs."""

import asyncio
from types import SimpleNamespace

from orderstream.contracts.order import CancelOrder
from orderstream.runtime.actor import ActorSystem
from orderstream.runtime.codec import encode
from orderstream.runtime.consumer import Gate

from builders import msg


def test_a_batchs_table_writes_wait_for_every_message_it_sent_and_keep_their_order():
    async def run():
        loop = asyncio.get_running_loop()
        sent, lost = [], []
        gate = Gate(sent.append, lost.append)
        gate.send("row before any batch")
        first = [loop.create_future(), loop.create_future()]
        gate.hold(first)
        gate.send("row of batch 1")
        second = [loop.create_future()]
        gate.hold(second)
        gate.send("row of batch 2")
        gate.hold([])  # a batch that sent nothing queues behind the others
        gate.send("row of batch 3")
        await asyncio.sleep(0.01)
        assert sent == ["row before any batch"]

        second[0].set_result(None)  # batch 2's messages are in Kafka, batch 1's are not
        first[0].set_result(None)
        await asyncio.sleep(0.01)
        assert sent == ["row before any batch"]

        first[1].set_result(None)
        await asyncio.sleep(0.01)
        assert sent == ["row before any batch", "row of batch 1", "row of batch 2", "row of batch 3"]
        gate.send("row of batch 4")
        assert sent[-1] == "row of batch 4" and lost == []

    asyncio.run(run())


def test_a_message_kafka_refused_keeps_the_batchs_rows_out_of_the_changelog():
    async def run():
        loop = asyncio.get_running_loop()
        sent, lost = [], []
        gate = Gate(sent.append, lost.append)
        acks = [loop.create_future(), loop.create_future()]
        gate.hold(acks)
        gate.send("row")
        acks[0].set_result(None)
        acks[1].set_exception(ConnectionError("delivery timed out"))
        await asyncio.sleep(0.01)
        assert sent == [] and [str(error) for error in lost] == ["delivery timed out"]

    asyncio.run(run())


def test_the_actor_sends_a_batchs_messages_before_its_rows_and_holds_the_rows_on_them():
    async def run():
        loop = asyncio.get_running_loop()
        sent, acks = [], []

        class Producer:
            gate = Gate(sent.append, lambda error: None)

            async def send(self, topic, key, value, partition, timestamp, headers):
                acks.append(loop.create_future())
                wire.append((topic, key, value))
                return acks[-1]

        class Rows:
            touched: dict = {}

            def write(self):
                gate.send("row")

        producer, wire = Producer(), []
        gate = producer.gate

        async def started():
            return producer

        actor = SimpleNamespace(app=SimpleNamespace(thawed=lambda: None, producer=producer,
                                                   maybe_start_producer=started),
                                topic=lambda name: SimpleNamespace(get_topic_name=lambda: name),
                                watchers={}, metrics=SimpleNamespace(census=SimpleNamespace(stores={})))
        cancel = msg(CancelOrder, order_id="o1", reason="changed my mind")
        await ActorSystem._write(actor, Rows(), [("order.events", "o1", cancel, None),
                                                 ("payment.commands", "p1", cancel, None)])
        assert [(topic, key) for topic, key, _ in wire] == [("order.events", b"o1"), ("payment.commands", b"p1")]
        assert wire[0][2] == wire[1][2] == encode(cancel)
        assert len(acks) == 2 and sent == []
        for ack in acks:
            ack.set_result(None)
        await asyncio.sleep(0.01)
        assert sent == ["row"]

    asyncio.run(run())
