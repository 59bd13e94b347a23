"""The one retry policy: exponential backoff with full jitter, a bounded number of attempts.

Used by the HTTP adapters and by agents for transient errors. Full jitter (a uniform delay in
[0, min(cap, base * 2**n)]) spreads out clients that failed together, so a recovering service is
not hit by a synchronised wave of retries.
"""

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from orderstream.settings import Settings

T = TypeVar("T")
OnRetry = Callable[[int, BaseException, float], None]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_seconds: float = 0.1
    cap_seconds: float = 5.0
    jitter: Callable[[], float] = random.random            # uniform in [0, 1); injectable for tests
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        if self.base_seconds < 0 or self.cap_seconds < 0:
            raise ValueError("RetryPolicy delays must not be negative")

    @classmethod
    def from_settings(cls, settings: "Settings") -> "RetryPolicy":
        return cls(max_attempts=settings.step_max_retries + 1,
                   base_seconds=settings.retry_backoff_seconds)

    def delay(self, failed_attempts: int) -> float:
        """Seconds to wait after the `failed_attempts`-th consecutive failure (1-based)."""
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** (failed_attempts - 1))
        return self.jitter() * ceiling

    async def run(self, fn: Callable[[], Awaitable[T]], *,
                  retry_on: tuple[type[BaseException], ...],
                  never: tuple[type[BaseException], ...] = (),
                  on_retry: OnRetry | None = None) -> T:
        """Await `fn()` until it succeeds; retry only `retry_on` errors; re-raise the last one.

        Errors in `never` (e.g. invalid input) are raised at once even if they are also
        `retry_on` subclasses: retrying cannot fix them.

        `on_retry(attempt, error, delay)` is called before each wait, so callers can log the
        subject and the next action.
        """
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await fn()
            except retry_on as error:
                if isinstance(error, never) or attempt == self.max_attempts:
                    raise
                delay = self.delay(attempt)
                if on_retry is not None:
                    on_retry(attempt, error, delay)
                await self.sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")
