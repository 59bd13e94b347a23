"""The simulator's own surface: admin config, validation, and its command-line entry point."""

import asyncio
import json
import subprocess
import sys
import time
import urllib.request

import pytest

from orderstream.local.ports import free_port


def test_config_changes_at_run_time_and_bad_values_name_the_field(simulator):
    async def scenario():
        async with simulator() as sim:
            assert (await sim.configure(latency_ms=5, decline_over=100))["decline_over"] == 100
            async with sim.session.post(f"{sim.url}/admin/config",
                                        json={"failure_rate": 2}) as response:
                assert response.status == 400
                assert "failure_rate" in (await response.json())["reason"]
            async with sim.session.get(f"{sim.url}/admin/config") as response:
                assert (await response.json())["latency_ms"] == 5

    asyncio.run(scenario())


def test_requests_without_a_key_or_with_bad_fields_are_refused(simulator):
    async def scenario():
        async with simulator() as sim:
            charges = f"{sim.url}/v1/charges"
            body = {"payment_id": "p-1", "amount": 12.5, "currency": "EUR"}
            async with sim.session.post(charges, json=body) as response:
                assert response.status == 400
                assert "Idempotency-Key" in (await response.json())["reason"]
            async with sim.session.post(charges, json=body,
                                        headers={"Idempotency-Key": "k"}) as response:
                assert response.status == 400
                assert (await response.json())["reason"].startswith("amount:")

    asyncio.run(scenario())


def test_a_key_reused_with_a_different_body_is_refused(simulator):
    async def scenario():
        async with simulator() as sim:
            gateway = sim.gateway()
            assert (await gateway.charge("p-1", 1200, "EUR", "charge-p-1")).approved
            other = await gateway.charge("p-1", 9999, "EUR", "charge-p-1")
            assert not other.approved and "different request body" in other.reason
            assert (await sim.stats())["charges"] == 1

    asyncio.run(scenario())


def wait_for_health(url: str, deadline: float) -> dict:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=0.5) as response:
                return json.load(response)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def simulator_process():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "orderstream.simulator", "--port",
                                str(port), "--seed", "1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=5)


def test_python_dash_m_starts_the_simulator(simulator_process):
    health = wait_for_health(f"{simulator_process}/health", time.monotonic() + 10)
    assert health == {"status": "ok", "outage": False}
