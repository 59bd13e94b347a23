"""What watchers see of an order (order/progress.py): its stream's entries, and the saga steps
and compensations counted in /metrics, over whole sagas run in memory."""

import pytest

from orderstream.contracts.account import CreditAccount, OpenAccount
from orderstream.contracts.catalog import RegisterProduct
from orderstream.contracts.order import CancelOrder, CreateOrder, SagaPolicy
from orderstream.local.simulate import Simulation
from orderstream.order import progress
from orderstream.order.progress import SagaClock

from builders import ADDRESS, later, line, msg


class Watched(Simulation):
    """A simulation that hands every step of an order to the saga clock, as the worker does."""

    def __init__(self, clock: SagaClock, **kw):
        super().__init__(**kw)
        self.clock = clock
        self.snapshots: list = []  # the order's row after each step of its actor

    def _handle(self, decider, key, message):
        before = self.states.get((decider.name, key)) or decider.initial(key)
        super()._handle(decider, key, message)
        if decider.name == "orders":
            self.clock(message, before, [], self.states[(decider.name, key)])
            self.snapshots.append(self.states[(decider.name, key)])


class Recorded:
    """Stands in for the worker's metrics: what was observed, by labels."""

    def __init__(self):
        self.seen: list[tuple] = []
        self.saga_steps = self.compensations = self

    def labels(self, *labels):
        self.current = labels
        return self

    def observe(self, seconds):
        self.seen.append(("step", *self.current[1:]))

    def inc(self):
        self.seen.append(("compensation", *self.current[1:]))


def shop(funds=10_000):
    recorded = Recorded()
    sim = Watched(SagaClock("order", recorded))
    sim.send(msg(RegisterProduct, product_id="p1", sku="S1", name="W", price=500, currency="EUR", on_hand=5),
             msg(OpenAccount, account_id="a1", customer_id="c1", currency="EUR"),
             msg(CreditAccount, account_id="a1", amount=funds, currency="EUR", reason="top-up",
                 credit_id="t1")).run()
    return sim, recorded


def place(sim, order_id="o1", **kw):
    return sim.send(msg(CreateOrder, order_id=order_id, customer_id="c1", account_id="a1",
                        items=(line("p1", 2),), shipping_address=ADDRESS, policy=SagaPolicy(), **kw)).run()


def test_a_paid_order_streams_its_steps_and_statuses_and_times_each_step():
    sim, recorded = shop()
    state = place(sim).state("orders", "o1")
    entries = progress.entries(state, progress.START)
    assert [(kind, data.get("status") or data.get("step")) for _, kind, data in entries] == [
        ("status", "Pending"), ("step", "reservation"), ("status", "PaymentProcessing"),
        ("step", "payment"), ("status", "PaymentConfirmed"), ("step", "shipment"),
        ("status", "Preparing")]
    assert entries[-1][0] == (4, 3, 0) and progress.entries(state, entries[-1][0]) == []
    assert recorded.seen == [("step", "reservation", "succeeded"), ("step", "payment", "succeeded"),
                             ("step", "shipment", "succeeded")]


@pytest.mark.parametrize("after", range(7))
def test_a_resumed_stream_sends_each_entry_the_client_missed_once(after):
    sim, _ = shop()
    state = place(sim).state("orders", "o1")
    entries = progress.entries(state, progress.START)
    resumed = progress.entries(state, progress.cursor(progress.entry_id(entries[after][0])))
    assert sorted(map(str, resumed)) == sorted(map(str, entries[after + 1:]))


def test_a_failed_payment_is_a_failed_step_then_a_compensation_for_that_reason():
    sim, recorded = shop(funds=100)
    state = place(sim).state("orders", "o1")
    assert state.status == "Cancelled"
    assert recorded.seen == [("step", "reservation", "succeeded"), ("step", "payment", "failed"),
                             ("compensation", "release_reservation", "payment_failed"),
                             ("step", "compensation", "succeeded")]
    statuses = [d for _, kind, d in progress.entries(state, progress.START) if kind == "status"]
    assert [s["status"] for s in statuses] == ["Pending", "PaymentProcessing", "PaymentFailed", "Cancelled"]
    assert "insufficient" in statuses[-1]["reason"]
    assert ("compensation", {"order_id": "o1", "compensation": "release_reservation"}) in [
        (kind, data) for _, kind, data in progress.entries(state, progress.START)]


def test_a_customer_cancel_and_a_timeout_say_why_they_compensate():
    sim, recorded = shop()
    sim.hold = lambda m: m.type == "ProcessPayment"  # the payment never answers
    place(sim)
    sim.send(msg(CancelOrder, order_id="o1", reason="changed my mind")).run()
    assert ("step", "payment", "cancelled") in recorded.seen
    assert ("compensation", "void_payment", "cancelled_by_customer") in recorded.seen

    sim, recorded = shop()
    sim.hold = lambda m: m.type == "ProcessPayment"
    place(sim)
    for attempt in range(1, 6):
        sim.expire("o1", later(3600 * attempt))
    assert ("step", "payment", "timed_out") in recorded.seen
    assert ("compensation", "release_reservation", "step_timed_out") in recorded.seen


def cancelled_after_its_label(sim):
    place(sim)
    sim.send(msg(CancelOrder, order_id="o1", reason="changed my mind")).run()


def cancelled_while_paying(sim):
    sim.hold = lambda m: m.type == "ProcessPayment"  # the payment never answers
    cancelled_after_its_label(sim)
    sim.release_held().run()


@pytest.mark.parametrize("story", [place, cancelled_while_paying, cancelled_after_its_label])
def test_a_stream_read_as_the_order_moves_is_the_stream_read_at_its_end(story):
    """A reader who connects early and takes each change as it comes gets the very entries, ids
    and order that a reader who connects at the end gets: the ids do not depend on timing."""
    sim, _ = shop(funds=100 if story is place else 10_000)
    story(sim)
    followed, seen = [], progress.START
    for snapshot in sim.snapshots:
        for seen, kind, data in progress.entries(snapshot, seen):
            followed.append((seen, kind, data))
    final = sim.snapshots[-1]
    assert followed == progress.entries(final, progress.START)
    assert final.status == "Cancelled" and final.compensated
    if story is cancelled_after_its_label:  # the label is cancelled first, alone, then the rest
        kinds = [data.get("status") or data.get("compensation") for _, _, data in followed]
        assert kinds.index("cancel_shipment") < kinds.index("Cancelled") < kinds.index("release_reservation")


@pytest.mark.parametrize("text", ["x", "1.2", "1.2.3.4", "-1.0.0", ""])
def test_a_last_event_id_that_the_stream_never_sent_is_refused(text):
    with pytest.raises(ValueError):
        progress.cursor(text)
