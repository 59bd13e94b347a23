import pytest

from orderstream.adapters import BreakerState, CircuitBreaker


@pytest.fixture
def breaker(clock) -> CircuitBreaker:
    return CircuitBreaker(name="gateway", failure_threshold=3, cool_down_seconds=10.0,
                          clock=clock)


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        assert breaker.allow()
        breaker.record_failure()


def test_stays_closed_below_the_threshold_and_success_resets_the_count(breaker):
    fail(breaker, 2)
    breaker.record_success()
    fail(breaker, 2)
    assert breaker.state is BreakerState.closed
    assert breaker.allow()


def test_opens_after_consecutive_failures_and_fails_fast(breaker, clock):
    fail(breaker, 3)
    assert breaker.state is BreakerState.open
    clock.advance(9.9)
    assert not breaker.allow()
    assert breaker.seconds_until_probe() == pytest.approx(0.1)


def test_half_open_after_the_cool_down_lets_one_probe_through(breaker, clock):
    fail(breaker, 3)
    clock.advance(10)
    assert breaker.allow()
    assert breaker.state is BreakerState.half_open
    assert not breaker.allow()


def test_a_successful_probe_closes_the_circuit(breaker, clock):
    fail(breaker, 3)
    clock.advance(10)
    breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.closed
    fail(breaker, 2)
    assert breaker.state is BreakerState.closed


def test_a_failed_probe_reopens_for_a_fresh_cool_down(breaker, clock):
    fail(breaker, 3)
    clock.advance(10)
    breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.open
    clock.advance(9)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()


def test_a_probe_that_never_reports_back_does_not_wedge_the_breaker(breaker, clock):
    fail(breaker, 3)
    clock.advance(10)
    assert breaker.allow()
    clock.advance(10)
    assert breaker.allow()


def test_a_late_failure_while_open_does_not_extend_the_cool_down(breaker, clock):
    fail(breaker, 3)
    clock.advance(5)
    breaker.record_failure()
    clock.advance(5)
    assert breaker.allow()


def test_every_transition_is_reported_once(breaker, clock):
    seen = []
    breaker.on_transition(lambda old, new: seen.append((old.value, new.value)))
    fail(breaker, 3)
    breaker.record_failure()            # already open: no transition
    clock.advance(10)
    breaker.allow()
    breaker.record_failure()
    clock.advance(10)
    breaker.allow()
    breaker.record_success()
    breaker.record_success()            # already closed: no transition
    assert seen == [("closed", "open"), ("open", "half_open"), ("half_open", "open"),
                    ("open", "half_open"), ("half_open", "closed")]
