"""A circuit breaker: stop calling a service that keeps failing, probe it again after a pause.

closed --N consecutive failures--> open --cool-down elapsed--> half-open (one probe call)
half-open --success--> closed;  half-open --failure--> open (a fresh cool-down).

A probe that never reports back (its caller was cancelled) does not wedge the breaker: another
probe is allowed once a further cool-down has passed. An open circuit only says "not now": the
caller waits for the probe or reports the outcome as unknown (see http.py), never as a failure.
Every change of state is logged and passed to the `on_transition` listeners (e.g. metrics).
"""

import logging
import time
from collections.abc import Callable
from enum import StrEnum

log = logging.getLogger(__name__)


class BreakerState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


Transition = Callable[[BreakerState, BreakerState], None]


class CircuitBreaker:
    def __init__(self, *, name: str, failure_threshold: int = 5, cool_down_seconds: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if failure_threshold < 1:
            raise ValueError("CircuitBreaker.failure_threshold must be at least 1")
        self.name = name
        self.failure_threshold = failure_threshold
        self.cool_down_seconds = cool_down_seconds
        self._clock = clock
        self._state = BreakerState.closed
        self._failures = 0
        self._opened_at = 0.0
        self._listeners: list[Transition] = []

    @property
    def state(self) -> BreakerState:
        return self._state

    def on_transition(self, listener: Transition) -> None:
        self._listeners.append(listener)

    def seconds_until_probe(self) -> float:
        if self._state is BreakerState.closed:
            return 0.0
        return max(0.0, self._opened_at + self.cool_down_seconds - self._clock())

    def allow(self) -> bool:
        """May a call go out now? In half-open, only one probe per cool-down goes out."""
        if self._state is BreakerState.closed:
            return True
        if self.seconds_until_probe() > 0:
            return False
        self._opened_at = self._clock()
        self._move(BreakerState.half_open)
        log.info("%s circuit half-open: sending one probe call", self.name)
        return True

    def record_success(self) -> None:
        self._failures = 0
        if self._state is not BreakerState.closed:
            log.info("%s circuit closed: probe succeeded, calls flow again", self.name)
            self._move(BreakerState.closed)

    def record_failure(self) -> None:
        if self._state is BreakerState.open:
            return                  # a call already in flight when we opened: keep the cool-down
        self._failures += 1
        if self._state is BreakerState.half_open or self._failures >= self.failure_threshold:
            self._open()

    def _open(self) -> None:
        log.warning("%s circuit open after %d consecutive failures: calls wait %.1fs for a probe",
                    self.name, self._failures, self.cool_down_seconds)
        self._opened_at = self._clock()
        self._move(BreakerState.open)

    def _move(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if old is not new:
            for listener in self._listeners:
                listener(old, new)
