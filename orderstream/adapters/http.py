"""The one HTTP path to an external service: per-attempt timeout, retries, optional breaker.

A reply the service meant (2xx, or a 4xx such as a decline) is returned to the adapter to
interpret. Timeouts, connection errors, 429 and 5xx are transient: retried with backoff, and
counted by the circuit breaker. A call that finds the circuit open waits for the breaker's probe
(at most `breaker_wait_seconds`) instead of failing at once. When the retries run out, or the
circuit stays open, the call raises `ServiceUnavailable`: no answer was seen, so the request may
or may not have taken effect. Callers record that outcome as unknown, never as a refusal, and ask
again with the same idempotency key.
"""

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from orderstream.adapters.breaker import CircuitBreaker
from orderstream.runtime.retry import RetryPolicy

log = logging.getLogger(__name__)

TRANSIENT_STATUSES = frozenset({408, 425, 429})
BREAKER_POLL_SECONDS = 0.1


class ServiceUnavailable(Exception):
    """No answer seen from the service (retries exhausted, or its circuit stayed open): the
    outcome of the request is unknown."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientError(Exception):
    pass


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]

    @property
    def reason(self) -> str:
        return str(self.body.get("reason") or f"HTTP {self.status}")


class JsonClient:
    """POSTs JSON with an Idempotency-Key; one aiohttp session, opened lazily, closed by close()."""

    def __init__(self, base_url: str, *, service: str, timeout_seconds: float,
                 retry: RetryPolicy, breaker: CircuitBreaker | None = None,
                 unavailable: type[ServiceUnavailable] = ServiceUnavailable,
                 breaker_wait_seconds: float | None = None) -> None:
        """`breaker_wait_seconds`: how long one call waits for an open circuit to let it out;
        by default one cool-down plus one timeout, long enough to see a probe's answer."""
        self.base_url = base_url.rstrip("/")
        self.service = service
        self.retry = retry
        self.breaker = breaker
        self.breaker_wait_seconds = (breaker_wait_seconds if breaker_wait_seconds is not None
                                     else (breaker.cool_down_seconds if breaker else 0)
                                     + timeout_seconds)
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._unavailable = unavailable
        self._session: aiohttp.ClientSession | None = None

    async def post(self, path: str, payload: dict[str, Any], *, idempotency_key: str,
                   subject: str) -> Reply:
        """`subject` names the call in logs, e.g. "payment p-1: gateway charge"."""
        if not idempotency_key:
            raise ValueError(f"{subject}: an idempotency key is required")

        def log_retry(attempt: int, error: BaseException, delay: float) -> None:
            log.warning("%s: attempt %d failed (%s); retrying in %.2fs",
                        subject, attempt, error, delay)

        wait_until = time.monotonic() + self.breaker_wait_seconds
        try:
            return await self.retry.run(
                lambda: self._attempt(path, payload, idempotency_key, wait_until),
                retry_on=(TransientError,), on_retry=log_retry)
        except TransientError as error:
            reason = f"{self.service} unavailable after {self.retry.max_attempts} attempts: {error}"
            log.warning("%s: %s; outcome unknown, to be asked again with the same key",
                        subject, reason)
            raise self._unavailable(reason) from error

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _attempt(self, path: str, payload: dict[str, Any], idempotency_key: str,
                       wait_until: float) -> Reply:
        if not await self._admitted(wait_until):
            raise self._unavailable(f"{self.service} circuit open; next probe in "
                                    f"{self.breaker.seconds_until_probe():.1f}s")
        try:
            reply = await self._send(path, payload, idempotency_key)
        except (aiohttp.ClientError, TimeoutError) as error:
            self._record(ok=False)
            raise TransientError(describe(error)) from error
        if reply.status >= 500 or reply.status in TRANSIENT_STATUSES:
            self._record(ok=False)
            raise TransientError(f"HTTP {reply.status} {reply.reason}")
        self._record(ok=True)
        return reply

    async def _admitted(self, wait_until: float) -> bool:
        """Whether the breaker lets this call out, waiting until `wait_until` for its probe."""
        if self.breaker is None:
            return True
        while not self.breaker.allow():
            left = wait_until - time.monotonic()
            if left <= 0:
                return False
            await asyncio.sleep(min(left, BREAKER_POLL_SECONDS))
        return True

    async def _send(self, path: str, payload: dict[str, Any], idempotency_key: str) -> Reply:
        headers = {"Idempotency-Key": idempotency_key}
        async with self._open_session().post(self.base_url + path, json=payload,
                                             headers=headers) as response:
            return Reply(response.status, parse_body(await response.text()))

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    def _record(self, *, ok: bool) -> None:
        if self.breaker is None:
            return
        if ok:
            self.breaker.record_success()
        else:
            self.breaker.record_failure()


def parse_body(text: str) -> dict[str, Any]:
    """A JSON object, or the (truncated) text as the reason: proxies answer with HTML."""
    try:
        body = json.loads(text) if text else {}
    except ValueError:
        return {"reason": text[:200]}
    return body if isinstance(body, dict) else {"reason": text[:200]}


def describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
