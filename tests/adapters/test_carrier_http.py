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


def test_a_label_can_be_cancelled_idempotently(simulator):
    async def scenario():
        async with simulator() as sim:
            carrier = sim.carrier()
            label = await carrier.create_label("s-1", "o-1", ADDRESS, ITEMS, "label-s-1")
            first = await carrier.cancel("s-1", label.tracking_number, "cancel-s-1")
            again = await carrier.cancel("s-1", label.tracking_number, "cancel-s-1-retry")
            assert first.ok and again.ok
            assert (await sim.stats())["label_cancels"] == 1

    asyncio.run(scenario())


def test_cancelling_an_unknown_label_is_refused(simulator):
    async def scenario():
        async with simulator() as sim:
            result = await sim.carrier().cancel("s-1", "TRK-NOPE", "cancel-s-1")
            assert not result.ok and "no label TRK-NOPE" in result.reason

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
