"""An outcome the port did not see is unknown, never a failure (issue 9, items 3 and 4).

Given–when–then over the payment and shipment deciders, then the whole saga in memory with a
gateway and carrier whose answers get lost: the books balance in both saga modes."""

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from orderstream.contracts.account import CreditAccount, OpenAccount
from orderstream.contracts.catalog import RegisterProduct
from orderstream.contracts.ids import payment_id_for, shipment_id_for
from orderstream.contracts.order import CancelOrder, CreateOrder, SagaPolicy
from orderstream.contracts.payment import *  # noqa: F403
from orderstream.contracts.shipment import *  # noqa: F403
from orderstream.payment.decider import payments
from orderstream.local.simulate import Ports, Simulation
from orderstream.shipment.decider import shipments

from builders import ADDRESS, CARD_REF, fold, line, msg, run, strip, types

CARD = dict(payment_id="pay1", order_id="o1", account_id="a1", amount=1000, currency="EUR",
            payment_method="card", card_ref=CARD_REF)
STARTED = msg(PaymentStarted, **CARD)
ASKED = msg(GatewayChargeRequested, payment_id="pay1", order_id="o1", amount=1000,
            currency="EUR", card_ref=CARD_REF, idempotency_key="pay1")
NO_ANSWER = msg(RecordGatewayResult, payment_id="pay1", outcome="unknown",
                reason="gateway unavailable after 4 attempts: timed out")
CANCEL = msg(CancelPayment, payment_id="pay1", order_id="o1", reason="payment step timed out")


def test_a_charge_whose_answer_was_not_seen_stays_pending_and_says_why():
    out = run(payments, "pay1", [STARTED, ASKED], NO_ANSWER)
    assert strip(out) == [("GatewayOutcomeUnknown", {
        "payment_id": "pay1", "order_id": "o1", "operation": "charge",
        "reason": "gateway unavailable after 4 attempts: timed out"})]
    state = fold(payments, "pay1", [STARTED, ASKED, *out])
    assert state.status == "pending" and state.unresolved.startswith("charge: gateway")


def test_a_retry_after_an_unknown_outcome_asks_again_with_the_same_key():
    unknown = run(payments, "pay1", [STARTED, ASKED], NO_ANSWER)
    again = run(payments, "pay1", [STARTED, ASKED, *unknown], msg(ProcessPayment, **CARD))
    assert types(again) == ["PaymentStarted", "GatewayChargeRequested"]
    assert again[1].idempotency_key == ASKED.idempotency_key
    approved = msg(RecordGatewayResult, payment_id="pay1", outcome="approved",
                   transaction_id="txn1")
    assert types(run(payments, "pay1", [STARTED, ASKED, *unknown, *again], approved)) == [
        "PaymentSucceeded"]


def test_a_decline_is_still_a_failure():
    declined = msg(RecordGatewayResult, payment_id="pay1", outcome="declined",
                   reason="card_declined")
    assert strip(run(payments, "pay1", [STARTED, ASKED], declined)) == [("PaymentFailed", {
        "payment_id": "pay1", "order_id": "o1", "reason": "card_declined"})]


def test_an_unknown_outcome_after_the_payment_settled_changes_nothing():
    succeeded = msg(PaymentSucceeded, payment_id="pay1", order_id="o1", transaction_id="t1",
                    amount=1000, currency="EUR")
    assert run(payments, "pay1", [STARTED, ASKED, succeeded], NO_ANSWER) == []


def test_cancelling_a_pending_card_payment_voids_by_the_charge_key_not_at_once():
    out = run(payments, "pay1", [STARTED, ASKED], CANCEL)
    assert strip(out) == [("GatewayVoidRequested", {
        "payment_id": "pay1", "order_id": "o1", "charge_key": "pay1",
        "idempotency_key": fold(payments, "pay1", [STARTED]).void_key,
        "reason": "payment step timed out"})]
    assert fold(payments, "pay1", [STARTED, ASKED, *out]).status == "voiding"


def test_a_void_that_gave_a_capture_back_is_recorded_as_captured_and_reversed():
    voiding = run(payments, "pay1", [STARTED, ASKED], CANCEL)
    confirmed = msg(RecordGatewayVoidResult, payment_id="pay1", outcome="voided",
                    transaction_id="txn1", reversed_amount=1000)
    out = run(payments, "pay1", [STARTED, ASKED, *voiding], confirmed)
    assert strip(out) == [("PaymentVoided", {
        "payment_id": "pay1", "order_id": "o1", "reason": "payment step timed out",
        "transaction_id": "txn1", "reversed_amount": 1000})]
    state = fold(payments, "pay1", [STARTED, ASKED, *voiding, *out])
    assert (state.status, state.captured, state.reversed, state.refundable) == (
        "voided", 1000, 1000, 0)


def test_a_void_whose_answer_was_not_seen_stays_voiding_and_a_retry_asks_again():
    voiding = run(payments, "pay1", [STARTED, ASKED], CANCEL)
    lost = msg(RecordGatewayVoidResult, payment_id="pay1", outcome="unknown", reason="timed out")
    unknown = run(payments, "pay1", [STARTED, ASKED, *voiding], lost)
    assert [(e.type, e.operation) for e in unknown] == [("GatewayOutcomeUnknown", "void")]
    given_ = [STARTED, ASKED, *voiding, *unknown]
    assert fold(payments, "pay1", given_).status == "voiding"
    assert types(run(payments, "pay1", given_, CANCEL)) == ["GatewayVoidRequested"]


def test_while_voiding_a_step_retry_charges_nothing_and_a_late_answer_is_left_to_the_void():
    given_ = [STARTED, ASKED, *run(payments, "pay1", [STARTED, ASKED], CANCEL)]
    assert run(payments, "pay1", given_, msg(ProcessPayment, **CARD)) == []
    late = msg(RecordGatewayResult, payment_id="pay1", outcome="approved", transaction_id="t1")
    assert run(payments, "pay1", given_, late) == []


def test_a_charge_the_void_gave_back_is_not_refunded_again_when_its_answer_lands():
    voiding = run(payments, "pay1", [STARTED, ASKED], CANCEL)
    voided = run(payments, "pay1", [STARTED, ASKED, *voiding], msg(
        RecordGatewayVoidResult, payment_id="pay1", outcome="voided", transaction_id="t1",
        reversed_amount=1000))
    late = msg(RecordGatewayResult, payment_id="pay1", outcome="approved", transaction_id="t1")
    assert run(payments, "pay1", [STARTED, ASKED, *voiding, *voided], late) == []


def test_a_refund_whose_answer_was_not_seen_stays_pending_and_is_asked_again():
    succeeded = msg(PaymentSucceeded, payment_id="pay1", order_id="o1", transaction_id="t1",
                    amount=1000, currency="EUR")
    refund = msg(RefundPayment, payment_id="pay1", refund_id="r1", reason="cancelled")
    started = run(payments, "pay1", [STARTED, succeeded], refund)
    lost = msg(RecordGatewayRefundResult, payment_id="pay1", refund_id="r1", outcome="unknown",
               reason="timed out")
    unknown = run(payments, "pay1", [STARTED, succeeded, *started], lost)
    assert [(e.type, e.operation) for e in unknown] == [("GatewayOutcomeUnknown", "refund")]
    given_ = [STARTED, succeeded, *started, *unknown]
    assert fold(payments, "pay1", given_).refunds["r1"].status == "pending"
    assert types(run(payments, "pay1", given_, refund)) == [
        "RefundStarted", "GatewayRefundRequested"]


SHIP = dict(shipment_id="s1", order_id="o1", items=(line(),), address=ADDRESS)
REQUESTED = msg(LabelRequested, **SHIP, idempotency_key="s1")
LABEL_LOST = msg(RecordCarrierResult, shipment_id="s1", outcome="unknown", reason="timed out")
CANCEL_SHIPMENT = msg(CancelShipment, shipment_id="s1", order_id="o1", reason="shipment timed out")


def test_a_label_whose_answer_was_not_seen_stays_requested_and_is_asked_again():
    unknown = run(shipments, "s1", [REQUESTED], LABEL_LOST)
    assert [(e.type, e.operation) for e in unknown] == [("CarrierOutcomeUnknown", "label")]
    assert fold(shipments, "s1", [REQUESTED, *unknown]).status == "requested"
    again = run(shipments, "s1", [REQUESTED, *unknown], msg(CreateShipment, **SHIP))
    assert types(again) == ["LabelRequested"]
    assert again[0].idempotency_key == "s1"


def test_a_refused_label_is_still_a_failure():
    refused = msg(RecordCarrierResult, shipment_id="s1", outcome="refused",
                  reason="undeliverable address")
    assert types(run(shipments, "s1", [REQUESTED], refused)) == ["ShipmentFailed"]


def test_cancelling_a_requested_shipment_cancels_by_the_label_key_and_waits_for_the_carrier():
    asked = run(shipments, "s1", [REQUESTED], CANCEL_SHIPMENT)
    assert [(e.type, e.label_key) for e in asked] == [("LabelCancelRequested", "s1")]
    given_ = [REQUESTED, *asked]
    assert fold(shipments, "s1", given_).status == "cancelling"
    lost = msg(RecordCarrierCancelResult, shipment_id="s1", outcome="unknown", reason="503")
    unknown = run(shipments, "s1", given_, lost)
    assert types(unknown) == ["CarrierOutcomeUnknown"]
    assert types(run(shipments, "s1", [*given_, *unknown], CANCEL_SHIPMENT)) == [
        "LabelCancelRequested"]
    late = msg(RecordCarrierResult, shipment_id="s1", outcome="accepted", tracking_number="T1",
               carrier="c")
    assert run(shipments, "s1", given_, late) == []
    done = msg(RecordCarrierCancelResult, shipment_id="s1", outcome="cancelled")
    assert types(run(shipments, "s1", [*given_, *unknown], done)) == ["ShipmentCancelled"]


# --- the whole saga in memory, with answers lost -------------------------------------------
MODES = ["orchestration", "choreography"]


def shop(mode, ports):
    sim = Simulation(mode=mode, ports=ports)
    return sim.send(
        msg(RegisterProduct, product_id="p1", sku="S1", name="W", price=500, currency="EUR",
            on_hand=10),
        msg(OpenAccount, account_id="a1", customer_id="c1", currency="EUR"),
        msg(CreditAccount, account_id="a1", amount=10_000, currency="EUR", reason="top-up",
            credit_id="t1")).run()


def place(sim, order_id):
    return sim.send(msg(CreateOrder, order_id=order_id, customer_id="c1", account_id="a1",
                        items=(line("p1", 2),), shipping_address=ADDRESS,
                        payment_method="card", card_ref=CARD_REF,
                        policy=SagaPolicy(mode=sim.mode))).run()


def settle(sim, order_id, rounds=40):
    """The runtime's deadline scan, until the order awaits nothing."""
    for _ in range(rounds):
        order = sim.state("orders", order_id)
        if order.deadline is None:
            return order
        sim.expire(order_id, order.deadline)
    raise AssertionError(f"{order_id} never settled: {sim.state('orders', order_id)}")


def assert_books_balance(ports, order):
    kept = ports.kept(payment_id_for(order.order_id))
    label = ports.labels.get(shipment_id_for(order.order_id))
    if order.status in ("Preparing", "Shipped", "Delivered"):
        assert (kept, label) == (1000, "created"), order
    else:
        assert order.status == "Cancelled" and kept == 0 and label != "created", order


@pytest.mark.parametrize("mode", MODES)
def test_every_answer_lost_until_the_step_gives_up_cancels_and_keeps_nothing(mode):
    ports = Ports(unseen=lambda event: True)
    sim = place(shop(mode, ports), "o1")
    for _ in range(3):  # every retry: charged once, answer lost
        sim.expire("o1", sim.state("orders", "o1").deadline)
    assert ports.kept(payment_id_for("o1")) == 1000
    assert sim.state("orders", "o1").status == "PaymentProcessing"
    sim.expire("o1", sim.state("orders", "o1").deadline)  # retries spent: void by the key
    assert ports.kept(payment_id_for("o1")) == 0
    assert sim.state("orders", "o1").undo == ("void_payment",)  # its answer was lost too
    assert sim.state("payments", payment_id_for("o1")).status == "voiding"
    ports.unseen = lambda event: False
    order = settle(sim, "o1")
    assert order.status == "Cancelled" and "payment step timed out" in order.reason
    assert sim.state("payments", payment_id_for("o1")).status == "voided"
    assert_books_balance(ports, order)


@pytest.mark.parametrize("mode", MODES)
def test_a_lost_charge_answer_is_resolved_by_the_retry_with_one_capture(mode):
    lost = iter([True])  # the first charge's answer only
    ports = Ports(unseen=lambda e: isinstance(e, GatewayChargeRequested) and next(lost, False))
    sim = place(shop(mode, ports), "o1")
    assert sim.state("orders", "o1").status == "PaymentProcessing"
    order = settle(sim, "o1")
    assert order.status == "Preparing" and ports.charged == {payment_id_for("o1"): 1000}


@pytest.mark.parametrize("mode", MODES)
def test_a_label_made_but_unseen_is_cancelled_at_the_carrier_when_the_order_gives_up(mode):
    ports = Ports(unseen=lambda event: isinstance(event, LabelRequested))
    sim = place(shop(mode, ports), "o1")
    for _ in range(4):
        sim.expire("o1", sim.state("orders", "o1").deadline)
    ports.unseen = lambda event: False
    order = settle(sim, "o1")
    assert order.status == "Cancelled" and "shipment step timed out" in order.reason
    assert ports.labels == {shipment_id_for("o1"): "cancelled"}
    assert_books_balance(ports, order)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(MODES), st.lists(st.booleans(), max_size=40),
       st.lists(st.tuples(st.sampled_from(["o1", "o2", "o3"]), st.integers(0, 6)), max_size=3))
def test_whatever_answers_are_lost_no_cancelled_order_keeps_money_or_a_label(mode, lost, cancels):
    coin = iter(lost)
    ports = Ports(unseen=lambda event: next(coin, False))
    sim = shop(mode, ports)
    orders = ["o1", "o2", "o3"]
    for order_id in orders:
        place(sim, order_id)
    for order_id, after in cancels:  # a customer cancel after some deadline scans
        for _ in range(after):
            if (deadline := sim.state("orders", order_id).deadline) is not None:
                sim.expire(order_id, deadline)
        sim.send(msg(CancelOrder, order_id=order_id, reason="changed my mind")).run()
    for order_id in orders:
        assert_books_balance(ports, settle(sim, order_id))
