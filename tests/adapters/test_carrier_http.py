"""The real Carrier client against the real simulator over loopback HTTP."""

import asyncio

import pytest

from orderstream.adapters import CarrierResult, CarrierUnavailable

ADDRESS = {"name": "Ada", "line1": "1 Main St", "city": "Lyon", "postal_code": "69001",
           "country": "FR"}
ITEMS = [{"sku": "sku-1", "quantity": 2}]


def test_a_label_is_created_once_per_key(simulator):
    async def scenario():
        async with simulator() as sim:
            carrier = sim.carrier()
            label = await carrier.create_label("s-1", "o-1", ADDRESS, ITEMS, "label-s-1")
            again = await carrier.create_label("s-1", "o-1", ADDRESS, ITEMS, "label-s-1")
            assert label.ok and label.tracking_number.startswith("TRK")
            assert again == label
            assert (await sim.stats())["labels"] == 1

    asyncio.run(scenario())


def test_an_undeliverable_country_or_postcode_is_refused_with_a_reason(simulator):
    async def scenario():
        async with simulator(undeliverable_countries=["AQ"],
                             undeliverable_postcodes=["00000"]) as sim:
            carrier = sim.carrier()
            polar = await carrier.create_label("s-1", "o-1", {**ADDRESS, "country": "aq"},
                                               ITEMS, "label-s-1")
            nowhere = await carrier.create_label("s-2", "o-2", {**ADDRESS, "postal_code": "00000"},
                                                 ITEMS, "label-s-2")
            assert polar == CarrierResult(
                ok=False, reason="undeliverable address: country AQ is not served")
            assert not nowhere.ok and "postal code 00000" in nowhere.reason

    asyncio.run(scenario())


def test_a_label_is_cancelled_by_its_key_idempotently(simulator):
    async def scenario():
        async with simulator() as sim:
            carrier = sim.carrier()
            label = await carrier.create_label("s-1", "o-1", ADDRESS, ITEMS, "label-s-1")
            first = await carrier.cancel("s-1", "label-s-1", "cancel-s-1")
            again = await carrier.cancel("s-1", "label-s-1", "cancel-s-1-retry")
            assert first == again == CarrierResult(ok=True, tracking_number=label.tracking_number)
            stats = await sim.stats()
            assert stats["label_cancels"] == 1
            assert stats["labels_by_shipment"] == {"s-1": {label.tracking_number: "cancelled"}}

    asyncio.run(scenario())


def test_a_cancel_before_the_label_refuses_that_key_from_then_on(simulator):
    async def scenario():
        async with simulator() as sim:
            carrier = sim.carrier()
            assert await carrier.cancel("s-1", "label-s-1", "cancel-s-1") == CarrierResult(ok=True)
            late = await carrier.create_label("s-1", "o-1", ADDRESS, ITEMS, "label-s-1")
            assert not late.ok and "voided before" in late.reason
            assert (await sim.stats())["labels_by_shipment"] == {}

    asyncio.run(scenario())


def test_a_slow_carrier_makes_the_label_the_client_gave_up_on_and_the_cancel_finds_it(simulator):
    async def scenario():
        async with simulator(latency_ms=200) as sim:
            carrier = sim.carrier(attempts=1, timeout=0.05)
            with pytest.raises(CarrierUnavailable, match="timed out"):
                await carrier.create_label("s-1", "o-1", ADDRESS, ITEMS, "label-s-1")
            await sim.configure(latency_ms=0)
            await asyncio.sleep(0.25)      # the carrier finishes the request we gave up on
            assert (await carrier.cancel("s-1", "label-s-1", "cancel-s-1")).ok
            labels = (await sim.stats())["labels_by_shipment"]["s-1"]
            assert list(labels.values()) == ["cancelled"]

    asyncio.run(scenario())


def test_transient_failures_are_retried_and_an_outage_is_unavailable(simulator):
    async def scenario():
        async with simulator(fail_next=1) as sim:
            carrier = sim.carrier(attempts=2)
            assert (await carrier.create_label("s-1", "o-1", ADDRESS, ITEMS, "label-s-1")).ok
            await sim.configure(outage=True)
            with pytest.raises(CarrierUnavailable, match="carrier unavailable after 2 attempts"):
                await carrier.create_label("s-2", "o-2", ADDRESS, ITEMS, "label-s-2")

    asyncio.run(scenario())
