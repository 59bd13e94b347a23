"""How the bench offers load. Closed loop: N orders, at most C in flight, the next starting when
one settles. Open loop: orders start on a fixed schedule at R per second whatever the
completions, so latency is measured at a fixed offered load from each order's scheduled start
(a slow system cannot slow the client down and hide its own queueing)."""

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiohttp


Attempt = Callable[[int], Awaitable[tuple[float, str]]]
"""Places order i; returns the monotonic time it settled (or gave up) and its outcome."""
UNSETTLED = "unsettled"


@dataclass(frozen=True)
class Outcome:
    started: float   # seconds from the run's start (the scheduled start in an open loop)
    latency: float   # seconds from start to settled
    status: str


class Progress:
    """One updating line on stderr: placed, settled, in flight, rate."""

    def __init__(self, label: str, total: int, quiet: bool = False, stream=sys.stderr):
        self.label, self.total, self.stream, self.quiet = label, total, stream, quiet
        self.placed = self.settled = 0
        self.start = time.monotonic()
        self.tty = stream.isatty()
        self.shown = 0.0

    def show(self, final: bool = False) -> None:
        now = time.monotonic()
        if self.quiet or not final and now - self.shown < (0.25 if self.tty else 10.0):
            return
        self.shown = now
        elapsed = max(now - self.start, 1e-9)
        line = (f"{self.label}: {self.settled}/{self.total} settled, {self.placed - self.settled} in flight, "
                f"{self.settled / elapsed:.1f}/s, {elapsed:.0f}s")
        print(("\r" + line.ljust(78)) if self.tty else line, end="\n" if final or not self.tty else "",
              file=self.stream, flush=True)

    async def ticking(self) -> None:
        while True:
            self.show()
            await asyncio.sleep(0.25)


async def _timed(attempt: Attempt, i: int, started: float, origin: float, progress: Progress) -> Outcome:
    progress.placed += 1
    try:
        settled_at, status = await attempt(i)
    finally:
        progress.settled += 1
    return Outcome(started - origin, settled_at - started, status)


async def closed_loop(count: int, concurrency: int, attempt: Attempt, progress: Progress
                      ) -> tuple[list[Outcome], float]:
    """Runs `count` attempts, `concurrency` at a time; the outcomes and the elapsed seconds."""
    gate = asyncio.Semaphore(concurrency)
    origin = time.monotonic()

    async def limited(i: int) -> Outcome:
        async with gate:
            return await _timed(attempt, i, time.monotonic(), origin, progress)

    ticker = asyncio.create_task(progress.ticking())
    try:
        outcomes = await asyncio.gather(*(limited(i) for i in range(count)))
    finally:
        ticker.cancel()
        progress.show(final=True)
    return list(outcomes), time.monotonic() - origin


async def open_loop(offsets: Sequence[float], duration: float, attempt: Attempt, drain: float,
                    progress: Progress) -> tuple[list[Outcome], int]:
    """Starts attempt i at `offsets[i]` seconds; at `duration` counts those still unsettled, then
    waits up to `drain` seconds more for them. Returns the outcomes and that count."""
    origin = time.monotonic()
    tasks: list[asyncio.Task] = []
    ticker = asyncio.create_task(progress.ticking())
    try:
        for i, offset in enumerate(offsets):
            await asyncio.sleep(max(origin + offset - time.monotonic(), 0))
            tasks.append(asyncio.create_task(_timed(attempt, i, origin + offset, origin, progress)))
        await asyncio.sleep(max(origin + duration - time.monotonic(), 0))
        unsettled_at_end = sum(not task.done() for task in tasks)
        await asyncio.wait(tasks, timeout=drain)
    finally:
        ticker.cancel()
        progress.show(final=True)
    outcomes = []
    for i, task in enumerate(tasks):
        if task.done() and not task.cancelled():
            outcomes.append(task.result())
        else:
            task.cancel()
            outcomes.append(Outcome(offsets[i], float("nan"), UNSETTLED))
    return outcomes, unsettled_at_end


class Placer:
    """An attempt that POSTs body i to /orders, then long-polls the order until it is settled
    (`GET /orders/{id}?wait_for=settled`). The order worker answers when it writes the order's
    row settled, so the bench costs it about one request per order, whatever the latency;
    `reads` counts the requests."""

    def __init__(self, session: aiohttp.ClientSession, order_url: str, bodies: Sequence[dict], headers: dict,
                 give_up: float = 120.0, poll: float = 30.0):
        self.session, self.url, self.bodies, self.headers = session, order_url, bodies, headers
        self.give_up, self.poll = give_up, poll
        self.reads = 0
        self.saga_mode: str | None = None  # as the order worker chose it (its settings, not ours)

    async def __call__(self, i: int) -> tuple[float, str]:
        deadline = time.monotonic() + self.give_up
        async with self.session.post(self.url, json=self.bodies[i], headers=self.headers) as response:
            if response.status != 202:
                return time.monotonic(), f"HTTP {response.status}"
            order_id = (await response.json())["order_id"]
        while (left := deadline - time.monotonic()) > 0:
            if (status := await self.settled(order_id, min(left, self.poll))) is not None:
                return time.monotonic(), status
        return time.monotonic(), UNSETTLED

    async def settled(self, order_id: str, wait: float) -> str | None:
        """The order's status once it is settled (waiting up to `wait` seconds), else None."""
        self.reads += 1
        query = {"wait_for": "settled", "timeout": f"{wait:.1f}"}
        async with self.session.get(f"{self.url}/{order_id}", params=query, headers=self.headers) as response:
            order = await response.json() if response.status == 200 else {}
        if response.status != 200:  # 503: the worker is catching up on the order's partition
            await asyncio.sleep(min(wait, 0.5))
        self.saga_mode = order.get("saga_mode", self.saga_mode)
        return order["status"] if order.get("settled") else None
