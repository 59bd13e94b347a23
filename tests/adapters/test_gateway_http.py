"""The real PaymentGateway client against the real simulator over loopback HTTP."""

import asyncio

import pytest

from orderstream.adapters import BreakerState, GatewayResult, GatewayUnavailable, GatewayVoid


def test_a_charge_is_approved_with_a_transaction_id(simulator):
    async def scenario():
        async with simulator() as sim:
            result = await sim.gateway().charge("p-1", 1200, "EUR", "charge-p-1")
            assert result.approved and result.transaction_id.startswith("txn_")
            assert (await sim.stats())["charged_by_payment"] == {"p-1": 1200}

    asyncio.run(scenario())


def test_a_decline_is_a_result_not_an_error_and_does_not_trip_the_breaker(simulator):
    async def scenario():
        async with simulator(decline_over=5000, decline_amounts=[1313]) as sim:
            gateway = sim.gateway(failure_threshold=1)
            over = await gateway.charge("p-1", 9000, "EUR", "k-1")
            magic = await gateway.charge("p-2", 1313, "EUR", "k-2")
            assert over == GatewayResult(approved=False, reason="insufficient_funds")
            assert magic == GatewayResult(approved=False, reason="card_declined")
            assert gateway.breaker.state is BreakerState.closed
            assert (await sim.stats())["charges"] == 0

    asyncio.run(scenario())


def test_the_same_key_twice_charges_once(simulator):
    async def scenario():
        async with simulator() as sim:
            gateway = sim.gateway()
            first = await gateway.charge("p-1", 1200, "EUR", "charge-p-1")
            again = await gateway.charge("p-1", 1200, "EUR", "charge-p-1")
            assert again == first
            stats = await sim.stats()
            assert (stats["charges"], stats["replays"]) == (1, 1)
            assert stats["charged_by_key"] == {"charge-p-1": 1200}

    asyncio.run(scenario())


def test_concurrent_requests_with_one_key_charge_once(simulator):
    async def scenario():
        async with simulator(latency_ms=20) as sim:
            gateway = sim.gateway()
            results = await asyncio.gather(
                *(gateway.charge("p-1", 1200, "EUR", "charge-p-1") for _ in range(5)))
            assert len({r.transaction_id for r in results}) == 1
            assert (await sim.stats())["charged_by_payment"] == {"p-1": 1200}

    asyncio.run(scenario())


def test_transient_503s_are_retried_through(simulator):
    async def scenario():
        async with simulator(fail_next=2) as sim:
            result = await sim.gateway(attempts=3).charge("p-1", 1200, "EUR", "charge-p-1")
            assert result.approved
            stats = await sim.stats()
            assert (stats["injected_failures"], stats["charges"]) == (2, 1)

    asyncio.run(scenario())


def test_a_seeded_failure_rate_is_survived_without_double_charges(simulator):
    async def scenario():
        async with simulator(failure_rate=0.5, seed=7) as sim:
            gateway = sim.gateway(attempts=10, failure_threshold=100)
            for n in range(8):
                assert (await gateway.charge(f"p-{n}", 100 + n, "EUR", f"charge-{n}")).approved
            stats = await sim.stats()
            assert stats["charges"] == 8 and stats["injected_failures"] > 0
            assert stats["charged_by_payment"] == {f"p-{n}": 100 + n for n in range(8)}

    asyncio.run(scenario())


def test_an_outage_opens_the_breaker_and_later_calls_fail_fast(simulator, clock):
    async def scenario():
        async with simulator(outage=True) as sim:
            gateway = sim.gateway(attempts=3, failure_threshold=3, clock=clock)
            with pytest.raises(GatewayUnavailable, match="after 3 attempts"):
                await gateway.charge("p-1", 1200, "EUR", "charge-p-1")
            assert gateway.breaker.state is BreakerState.open
            with pytest.raises(GatewayUnavailable, match="circuit open"):
                await gateway.charge("p-2", 1200, "EUR", "charge-p-2")
            assert (await sim.stats())["injected_failures"] == 3

    asyncio.run(scenario())


def test_the_breaker_recovers_once_the_outage_ends(simulator, clock):
    async def scenario():
        async with simulator(outage=True) as sim:
            gateway = sim.gateway(attempts=2, failure_threshold=2, clock=clock)
            with pytest.raises(GatewayUnavailable):
                await gateway.charge("p-1", 1200, "EUR", "charge-p-1")
            await sim.configure(outage=False)
            with pytest.raises(GatewayUnavailable, match="circuit open"):
                await gateway.charge("p-1", 1200, "EUR", "charge-p-1")
            clock.advance(gateway.breaker.cool_down_seconds)
            assert (await gateway.charge("p-1", 1200, "EUR", "charge-p-1")).approved
            assert gateway.breaker.state is BreakerState.closed

    asyncio.run(scenario())


def test_a_slow_gateway_times_out_and_the_retry_with_the_same_key_charges_once(simulator):
    async def scenario():
        async with simulator(latency_ms=200) as sim:
            gateway = sim.gateway(attempts=2, timeout=0.05)
            with pytest.raises(GatewayUnavailable, match="timed out"):
                await gateway.charge("p-1", 1200, "EUR", "charge-p-1")
            await sim.configure(latency_ms=0)
            await asyncio.sleep(0.25)      # the gateway finishes the requests we gave up on
            assert (await gateway.charge("p-1", 1200, "EUR", "charge-p-1")).approved
            stats = await sim.stats()
            assert stats["charged_by_key"] == {"charge-p-1": 1200}
            assert stats["replays"] >= 1       # the lost answer was replayed, not recharged

    asyncio.run(scenario())


def test_refunds_never_exceed_the_charge(simulator):
    async def scenario():
        async with simulator() as sim:
            gateway = sim.gateway()
            charge = await gateway.charge("p-1", 1000, "EUR", "charge-p-1")
            tx = charge.transaction_id
            first = await gateway.refund("p-1", tx, 600, "EUR", "refund-1")
            too_much = await gateway.refund("p-1", tx, 500, "EUR", "refund-2")
            rest = await gateway.refund("p-1", tx, 400, "EUR", "refund-3")
            replay = await gateway.refund("p-1", tx, 600, "EUR", "refund-1")
            assert first.approved and rest.approved and replay == first
            assert not too_much.approved and "exceeds the 400 left" in too_much.reason
            assert (await sim.stats())["refunded_by_transaction"] == {tx: 1000}

    asyncio.run(scenario())


def test_a_refund_of_an_unknown_transaction_is_refused(simulator):
    async def scenario():
        async with simulator() as sim:
            result = await sim.gateway().refund("p-1", "txn_nope", 100, "EUR", "refund-1")
            assert not result.approved and "no charge txn_nope" in result.reason

    asyncio.run(scenario())


def test_an_idempotency_key_is_required(simulator):
    async def scenario():
        async with simulator() as sim:
            with pytest.raises(ValueError, match="idempotency key"):
                await sim.gateway().charge("p-1", 1200, "EUR", "")

    asyncio.run(scenario())


def test_nothing_listening_is_unavailable(simulator):
    async def scenario():
        async with simulator() as sim:
            sim.url = "http://127.0.0.1:9"     # discard port: connection refused
            with pytest.raises(GatewayUnavailable, match="ClientConnectorError"):
                await sim.gateway(attempts=2).charge("p-1", 1200, "EUR", "charge-p-1")

    asyncio.run(scenario())


def test_a_void_by_key_gives_back_a_charge_whose_answer_was_never_seen(simulator):
    async def scenario():
        async with simulator(latency_ms=200) as sim:
            gateway = sim.gateway(attempts=1, timeout=0.05)
            with pytest.raises(GatewayUnavailable, match="timed out"):
                await gateway.charge("p-1", 1200, "EUR", "charge-p-1")
            await sim.configure(latency_ms=0)
            await asyncio.sleep(0.25)      # the gateway finishes the charge we gave up on
            void = await gateway.void("p-1", "charge-p-1", "void-p-1")
            assert void.voided and void.reversed_amount == 1200
            assert await gateway.void("p-1", "charge-p-1", "void-p-1") == void   # a replay
            stats = await sim.stats()
            assert stats["charged_by_payment"] == stats["refunded_by_payment"] == {"p-1": 1200}
            assert stats["voids"] == 1

    asyncio.run(scenario())


def test_a_void_before_the_charge_refuses_that_key_from_then_on(simulator):
    async def scenario():
        async with simulator() as sim:
            gateway = sim.gateway()
            void = await gateway.void("p-1", "charge-p-1", "void-p-1")
            assert void == GatewayVoid(voided=True, transaction_id=None, reversed_amount=0)
            late = await gateway.charge("p-1", 1200, "EUR", "charge-p-1")
            assert not late.approved and "voided before" in late.reason
            assert (await sim.stats())["charged_by_payment"] == {}

    asyncio.run(scenario())


def test_a_void_after_a_partial_refund_gives_back_the_rest(simulator):
    async def scenario():
        async with simulator() as sim:
            gateway = sim.gateway()
            charge = await gateway.charge("p-1", 1000, "EUR", "charge-p-1")
            await gateway.refund("p-1", charge.transaction_id, 300, "EUR", "refund-1")
            void = await gateway.void("p-1", "charge-p-1", "void-p-1")
            assert (void.transaction_id, void.reversed_amount) == (charge.transaction_id, 700)
            assert (await sim.stats())["refunded_by_payment"] == {"p-1": 1000}

    asyncio.run(scenario())


def test_a_call_that_finds_the_circuit_open_waits_for_the_probe_instead_of_failing(simulator):
    async def scenario():
        async with simulator(outage=True) as sim:
            gateway = sim.gateway(attempts=1, failure_threshold=1, cool_down=0.3,
                                  breaker_wait=5.0)
            with pytest.raises(GatewayUnavailable, match="after 1 attempts"):
                await gateway.charge("p-1", 1200, "EUR", "charge-p-1")
            assert gateway.breaker.state is BreakerState.open
            await sim.configure(outage=False)
            assert (await gateway.charge("p-1", 1200, "EUR", "charge-p-1")).approved
            assert gateway.breaker.state is BreakerState.closed

    asyncio.run(scenario())


def test_a_circuit_that_stays_open_past_the_wait_is_unavailable_not_a_decline(simulator):
    async def scenario():
        async with simulator(outage=True) as sim:
            gateway = sim.gateway(attempts=1, failure_threshold=1, cool_down=60, breaker_wait=0.2)
            with pytest.raises(GatewayUnavailable):
                await gateway.charge("p-1", 1200, "EUR", "charge-p-1")
            with pytest.raises(GatewayUnavailable, match="circuit open"):
                await gateway.charge("p-2", 1200, "EUR", "charge-p-2")
            assert (await sim.stats())["injected_failures"] == 1

    asyncio.run(scenario())
