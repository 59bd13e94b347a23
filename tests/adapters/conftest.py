"""The real simulator on a loopback ephemeral port, and real clients pointed at it."""

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from orderstream.adapters import Carrier, CircuitBreaker, PaymentGateway
from orderstream.runtime.retry import RetryPolicy
from orderstream.simulator import SimulatorConfig, build_app


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RunningSimulator:
    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.session = session
        self.clients: list[PaymentGateway | Carrier] = []

    async def configure(self, **update: Any) -> dict[str, Any]:
        async with self.session.post(f"{self.url}/admin/config", json=update) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def stats(self) -> dict[str, Any]:
        async with self.session.get(f"{self.url}/v1/stats") as response:
            return await response.json()

    def gateway(self, *, attempts: int = 3, timeout: float = 1.0, failure_threshold: int = 5,
                clock: Callable[[], float] = time.monotonic, cool_down: float = 5.0,
                breaker_wait: float = 0.0) -> PaymentGateway:
        """`breaker_wait` 0: a call that finds the circuit open gives up at once."""
        breaker = CircuitBreaker(name="gateway", failure_threshold=failure_threshold,
                                 cool_down_seconds=cool_down, clock=clock)
        client = PaymentGateway(self.url, timeout_seconds=timeout, retry=fast_retry(attempts),
                                breaker=breaker, breaker_wait_seconds=breaker_wait)
        self.clients.append(client)
        return client

    def carrier(self, *, attempts: int = 3, timeout: float = 1.0) -> Carrier:
        client = Carrier(self.url, timeout_seconds=timeout, retry=fast_retry(attempts))
        self.clients.append(client)
        return client


def fast_retry(attempts: int) -> RetryPolicy:
    return RetryPolicy(max_attempts=attempts, base_seconds=0.001, cap_seconds=0.005)


@asynccontextmanager
async def running_simulator(**config: Any) -> AsyncIterator[RunningSimulator]:
    runner = web.AppRunner(build_app(SimulatorConfig(**config)), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    sim = RunningSimulator(f"http://{host}:{port}", aiohttp.ClientSession())
    try:
        yield sim
    finally:
        for client in sim.clients:
            await client.close()
        await sim.session.close()
        await runner.cleanup()


@pytest.fixture
def simulator() -> Callable[..., Any]:
    """`async with simulator(decline_over=5000) as sim:` — a fresh simulator per scenario."""
    return running_simulator


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
