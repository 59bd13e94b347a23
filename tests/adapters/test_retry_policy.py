import asyncio

import pytest

from orderstream.runtime.retry import RetryPolicy
from orderstream.settings import Settings


class Flaky(Exception):
    pass


def policy(delays: list[float], **overrides) -> RetryPolicy:
    async def record_sleep(seconds: float) -> None:
        delays.append(seconds)

    options = {"max_attempts": 4, "base_seconds": 0.1, "cap_seconds": 0.25,
               "jitter": lambda: 1.0, "sleep": record_sleep}
    return RetryPolicy(**{**options, **overrides})


def failing(times: int, error: Exception = Flaky("boom")):
    calls = []

    async def fn() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "done"

    return fn, calls


def test_success_on_first_attempt_does_not_wait():
    delays: list[float] = []
    fn, calls = failing(0)
    assert asyncio.run(policy(delays).run(fn, retry_on=(Flaky,))) == "done"
    assert (len(calls), delays) == (1, [])


def test_transient_errors_are_retried_with_exponential_backoff_up_to_the_cap():
    delays: list[float] = []
    fn, calls = failing(3)
    assert asyncio.run(policy(delays).run(fn, retry_on=(Flaky,))) == "done"
    assert len(calls) == 4
    assert delays == pytest.approx([0.1, 0.2, 0.25])


def test_full_jitter_scales_the_whole_delay():
    delays: list[float] = []
    fn, _ = failing(2)
    asyncio.run(policy(delays, jitter=lambda: 0.5).run(fn, retry_on=(Flaky,)))
    assert delays == pytest.approx([0.05, 0.1])


def test_the_last_error_is_raised_when_attempts_run_out():
    delays: list[float] = []
    fn, calls = failing(10)
    with pytest.raises(Flaky):
        asyncio.run(policy(delays).run(fn, retry_on=(Flaky,)))
    assert (len(calls), len(delays)) == (4, 3)


def test_other_errors_are_not_retried():
    delays: list[float] = []
    fn, calls = failing(1, ValueError("bad input"))
    with pytest.raises(ValueError):
        asyncio.run(policy(delays).run(fn, retry_on=(Flaky,)))
    assert (len(calls), delays) == (1, [])


def test_on_retry_hears_each_attempt_before_the_wait():
    heard: list[tuple[int, str, float]] = []
    fn, _ = failing(2)
    asyncio.run(policy([]).run(fn, retry_on=(Flaky,),
                               on_retry=lambda n, e, d: heard.append((n, str(e), d))))
    assert heard == [(1, "boom", pytest.approx(0.1)), (2, "boom", pytest.approx(0.2))]


def test_real_sleep_with_tiny_delays():
    fn, calls = failing(2)
    fast = RetryPolicy(max_attempts=3, base_seconds=0.001, cap_seconds=0.002)
    assert asyncio.run(fast.run(fn, retry_on=(Flaky,))) == "done"
    assert len(calls) == 3


def test_policy_from_settings_counts_retries_after_the_first_attempt():
    settings = Settings(step_max_retries=2, retry_backoff_seconds=0.3)
    assert RetryPolicy.from_settings(settings) == RetryPolicy(max_attempts=3, base_seconds=0.3)


def test_at_least_one_attempt_is_required():
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_errors_marked_never_are_raised_at_once_though_retry_on_covers_them():
    delays: list[float] = []
    fn, calls = failing(3, ValueError("bad input"))
    with pytest.raises(ValueError, match="bad input"):
        asyncio.run(policy(delays).run(fn, retry_on=(Exception,), never=(ValueError,)))
    assert (len(calls), delays) == (1, [])
    fn, calls = failing(2)
    assert asyncio.run(policy(delays).run(fn, retry_on=(Exception,), never=(ValueError,))) == "done"
    assert len(calls) == 3
