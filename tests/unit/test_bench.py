"""The bench's arithmetic and its load loops, without a broker."""

import asyncio
import random
import time

import pytest


from orderstream.bench import load, stats, workload
from orderstream.order.views import PlaceOrder

STAT = ("4242 (python3 -m (orderstream) worker) S 1 4242 4242 0 -1 4194560 81234 0 12 0 "
        "1500 250 3 4 20 0 9 0 123456 987654321 45678 18446744073709551615 1 1 0 0 0 0 0 "
        "16781312 16386 0 0 0 17 1 0 0 0 0 0")


def test_percentiles_interpolate_between_closest_ranks():
    values = [4.0, 1.0, 3.0, 2.0]
    assert stats.percentile(values, 50) == 2.5
    assert stats.percentile(values, 0) == 1.0
    assert stats.percentile(values, 100) == 4.0
    assert stats.percentile([7.0], 99) == 7.0
    assert stats.percentile(list(range(101)), 90) == 90


def test_percentile_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        stats.percentile([], 50)
    with pytest.raises(ValueError):
        stats.percentile([1.0], 101)


def test_latency_summary_is_in_milliseconds():
    assert stats.latency_ms([0.1, 0.2, 0.3, 0.4, 0.5]) == {"p50": 300.0, "p90": 460.0, "p99": 496.0,
                                                           "max": 500.0}
    assert stats.latency_ms([]) == {}


def test_records_written_between_snapshots_per_topic_and_order():
    before = {"order.commands": 100, "__consumer_offsets": 40, "gone": 5, "idle": 9}
    after = {"order.commands": 160, "__consumer_offsets": 52, "new-changelog": 30, "idle": 9}
    written = stats.written(before, after)
    assert written == {"order.commands": 60, "__consumer_offsets": 12, "new-changelog": 30}
    shares = stats.per_order(written, 6)
    assert list(shares) == ["order.commands", "new-changelog", "__consumer_offsets"]
    assert shares == {"order.commands": 10.0, "new-changelog": 5.0, "__consumer_offsets": 2.0}
    assert sum(shares.values()) == 17.0
    assert stats.per_order(written, 0) == {}


def test_cpu_ticks_from_proc_stat_even_with_parentheses_in_the_name():
    assert stats.cpu_ticks(STAT) == 1500 + 250


def test_cpu_ms_per_order_per_process_and_total():
    before = {"order": 100, "kafka": 1000, "gone": 5}
    after = {"order": 150, "kafka": 1300, "late": 10}
    assert stats.cpu_ms_per(before, after, 100, 10) == {"order": 50.0, "kafka": 300.0, "total": 350.0}


def test_open_loop_schedule_is_fixed_in_advance():
    assert stats.schedule(4, 2) == [0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
    assert stats.schedule(2.5, 1) == [0, 0.4, 0.8]
    assert len(stats.schedule(15, 60)) == 900
    with pytest.raises(ValueError):
        stats.schedule(0, 10)


def test_relay_fillers_make_up_the_records_per_order():
    fill = stats.fillers(94, 17)
    assert len(fill) == 17 and sum(fill) + 17 + 1 == 94 and set(fill) == {4, 5}
    assert fill == sorted(fill, reverse=True)
    assert stats.fillers(10, 17) == [0] * 17  # fewer than the hops: no fillers
    assert stats.fillers(10, 3) == [2, 2, 2]


def test_order_body_is_what_the_order_api_takes():
    order = workload.Order("c1", (workload.Line("p1", 2, 1200), workload.Line("p2", 1, 300)))
    body = PlaceOrder.model_validate(workload.order_body(order))  # the API's own model: no prices
    assert body.customer_id == body.account_id == "c1"
    assert [(line.product_id, line.quantity) for line in body.items] == [("p1", 2), ("p2", 1)]


def test_spread_orders_are_reproducible_and_seeded_with_enough_stock_and_money():
    def draw(seed: int) -> list[workload.Order]:
        rng = random.Random(seed)
        shop = workload.shop("spread", "r1", rng, products=20, customers=5)
        return workload.orders_for("spread", shop, 200, rng)

    orders = draw(7)
    assert orders == draw(7) and orders != draw(8)
    assert {len(o.lines) for o in orders} == {1, 2, 3}
    assert all(len({line.product_id for line in o.lines}) == len(o.lines) for o in orders)
    stock, money = workload.stock_needed(orders), workload.money_needed(orders)
    assert sum(stock.values()) == sum(line.quantity for o in orders for line in o.lines)
    assert sum(money.values()) == sum(line.quantity * line.unit_price for o in orders for line in o.lines)


def test_hot_orders_are_one_line_of_one_product_for_one_customer():
    rng = random.Random(1)
    orders = workload.orders_for("hot", workload.shop("hot", "r1", rng, 200, 100), 50, rng)
    assert {(o.customer_id, o.lines[0].product_id, o.lines[0].quantity, len(o.lines)) for o in orders} == {
        ("bench-r1-a", "bench-r1-p", 1, 1)}


def test_open_loop_starts_on_schedule_whatever_the_completions():
    started: list[float] = []

    async def slow(i: int) -> tuple[float, str]:
        started.append(time.monotonic())
        await asyncio.sleep(0.2 if i < 8 else 5)
        return time.monotonic(), "Preparing"

    offsets = stats.schedule(10, 1.0)
    outcomes, unsettled = asyncio.run(load.open_loop(offsets, 1.0, slow, 0.3, load.Progress("t", 10, quiet=True)))
    assert [round(o.started, 3) for o in outcomes] == offsets
    assert all(abs((at - started[0]) - offset) < 0.05 for at, offset in zip(started, offsets))
    assert unsettled == 2  # 8 and 9 were still in flight when the schedule ended
    assert [o.status for o in outcomes] == ["Preparing"] * 8 + [load.UNSETTLED] * 2  # and after the drain
    assert all(0.2 <= o.latency < 0.3 for o in outcomes[:8])


def test_closed_loop_keeps_concurrency_orders_in_flight():
    in_flight, peak = 0, 0

    async def attempt(i: int) -> tuple[float, str]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return time.monotonic(), "Preparing"

    outcomes, seconds = asyncio.run(load.closed_loop(40, 5, attempt, load.Progress("t", 40, quiet=True)))
    assert peak == 5 and len(outcomes) == 40 and seconds > 0.07


def result_of_a_run() -> dict:
    latencies = [[i * 0.1, 900.0 + i, "Preparing"] for i in range(20)]
    costs = {"messages_per_order": 88.6, "messages_written": 1772,
             "messages_by_topic": {f"topic-{i}": 20.0 - i for i in range(15)},
             "cpu_ms_per_order": {"order": 12.5, "kafka": 20.0, "total": 32.5}}
    relay = {"hops": 17, "target_messages_per_order": 89, "orders": 20, "seconds": 0.5, "orders_per_second": 40.0,
             "latency_ms": {"p50": 200.0, "p90": 250.0, "p99": 260.0, "max": 270.0},
             "outcomes": {"relayed": 20}, "messages_per_order": 90.1, "messages_by_topic": {},
             "messages_written": 1802, "cpu_ms_per_order": {"relay-0": 3.0, "kafka": 9.0, "total": 12.0},
             "latencies": [[i * 0.02, 200.0 + i, "relayed"] for i in range(20)]}
    return {"run": "r1", "workload": "spread", "mode": "closed", "saga_mode": "orchestration", "orders": 20,
            "concurrency": 5, "seconds": 2.0, "orders_per_second": 10.0,
            "latency_ms": {"p50": 910.0, "p90": 917.0, "p99": 919.0, "max": 919.0},
            "outcomes": {"Preparing": 20}, **costs, "client_cpu_ms_per_order": 1.5, "latencies": latencies,
            "baseline": [relay], "ratio_to_relay": 0.25, "options": {"drain": 30.0}}


def test_report_is_a_short_table():
    from orderstream.bench import report

    text = report.table(result_of_a_run())
    assert "0.25 x the relay's" in text and "Kafka records per order: 88.6" in text
    assert "3 more topics" in text and "topic-14" not in text
    assert len(text.splitlines()) < 40


@pytest.mark.parametrize("suffix", [".html", ".png"])
def test_plot_draws_a_self_contained_file(tmp_path, suffix):
    from orderstream.bench import report

    pytest.importorskip("matplotlib")
    path = tmp_path / f"bench{suffix}"
    report.plot(result_of_a_run(), str(path))
    if suffix == ".html":
        page = path.read_text()
        assert "<svg" in page and "<pre>" in page
        assert not any(ref in page for ref in ('src="http', 'href="http', "<script"))  # nothing to fetch
    else:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
