from orderstream.contracts.account import (AccountCredited, AccountDebited, CreditRefused,
                                           DebitRefused, InsufficientFunds)
from orderstream.contracts.payment import *  # noqa: F403
from orderstream.contracts.shipment import *  # noqa: F403
from orderstream.payment.decider import payments, react as payment_react
from orderstream.shipment.decider import shipments

from builders import ADDRESS, CARD_REF, T0, fold, line, msg, run, strip, types

TERMS = dict(payment_id="pay1", order_id="o1", account_id="a1", amount=1000, currency="EUR",
             payment_method="account")
STARTED = msg(PaymentStarted, **TERMS)
SUCCEEDED = msg(PaymentSucceeded, payment_id="pay1", order_id="o1", transaction_id="t1",
                amount=1000, currency="EUR")
DEBITED = msg(AccountDebited, account_id="a1", order_id="o1", payment_id="pay1",
              transaction_id="t1", amount=1000, new_balance=0)


def test_process_by_account_debits_through_account_context():
    out = run(payments, "pay1", [], msg(ProcessPayment, **TERMS))
    assert types(out) == ["PaymentStarted"]
    assert types(payment_react(out[0])) == ["DebitAccount"]
    assert types(run(payments, "pay1", [STARTED], DEBITED)) == ["PaymentSucceeded"]


def test_repeat_charge_is_already_processed():
    out = run(payments, "pay1", [STARTED, SUCCEEDED], msg(ProcessPayment, **TERMS))
    assert strip(out) == [("PaymentAlreadyProcessed", {
        "payment_id": "pay1", "order_id": "o1", "status": "succeeded", "transaction_id": "t1",
        "reason": None})]


def test_debit_refusals_fail_the_payment():
    funds = msg(InsufficientFunds, account_id="a1", order_id="o1", payment_id="pay1",
                requested_amount=1000, balance=5)
    assert "insufficient" in run(payments, "pay1", [STARTED], funds)[0].reason
    refused = msg(DebitRefused, account_id="a1", order_id="o1", payment_id="pay1",
                  reason="frozen")
    assert run(payments, "pay1", [STARTED], refused)[0].reason == "account frozen"


def test_card_goes_through_the_gateway_port():
    card = {**TERMS, "payment_method": "card", "card_ref": CARD_REF}
    out = run(payments, "pay1", [], msg(ProcessPayment, **card))
    assert types(out) == ["PaymentStarted", "GatewayChargeRequested"]
    assert out[1].idempotency_key == "pay1"
    ok = msg(RecordGatewayResult, payment_id="pay1", outcome="approved", transaction_id="g1")
    assert types(run(payments, "pay1", out, ok)) == ["PaymentSucceeded"]
    no = msg(RecordGatewayResult, payment_id="pay1", outcome="declined", reason="declined")
    assert run(payments, "pay1", out, no)[0].reason == "declined"


def test_prepare_then_charge_the_reserved_total_and_charge_without_terms():
    payer = {k: v for k, v in TERMS.items() if k not in ("amount", "currency")}
    prepared = run(payments, "pay1", [], msg(PreparePayment, **payer))
    assert types(prepared) == ["PaymentPrepared"]
    charge = msg(ChargePayment, payment_id="pay1", order_id="o1", amount=1300, currency="EUR")
    started = run(payments, "pay1", prepared, charge)
    assert types(started) == ["PaymentStarted"] and started[0].amount == 1300
    assert types(payment_react(started[0])) == ["DebitAccount"]
    assert types(run(payments, "pay1", [], charge)) == ["PaymentFailed"]


def test_refund_never_exceeds_capture():
    cmd = msg(RefundPayment, payment_id="pay1", refund_id="r1", amount=400, reason="x")
    out = run(payments, "pay1", [STARTED, SUCCEEDED], cmd)
    assert types(out) == ["RefundStarted"] and types(payment_react(out[0])) == ["CreditAccount"]
    too_much = msg(RefundPayment, payment_id="pay1", refund_id="r2", amount=700, reason="x")
    assert types(run(payments, "pay1", [STARTED, SUCCEEDED, *out], too_much)) == [
        "RefundRejected"]
    assert types(run(payments, "pay1", [STARTED], cmd)) == ["RefundRejected"]
    credited = msg(AccountCredited, account_id="a1", credit_id="r1", payment_id="pay1",
                   transaction_id="c1", amount=400, new_balance=400, reason="refund")
    done = run(payments, "pay1", [STARTED, SUCCEEDED, *out], credited)
    assert strip(done)[0][1]["refunded_total"] == 400
    refused = msg(CreditRefused, account_id="a1", credit_id="r1", payment_id="pay1",
                  reason="missing")
    assert types(run(payments, "pay1", [STARTED, SUCCEEDED, *out], refused)) == ["RefundFailed"]


def test_gateway_refund_result():
    card = {**TERMS, "payment_method": "card", "card_ref": CARD_REF}
    given = [msg(PaymentStarted, **card), SUCCEEDED]
    out = run(payments, "pay1", given, msg(RefundPayment, payment_id="pay1", refund_id="r1",
                                           reason="x"))
    assert types(out) == ["RefundStarted", "GatewayRefundRequested"]
    ok = msg(RecordGatewayRefundResult, payment_id="pay1", refund_id="r1", outcome="approved")
    assert types(run(payments, "pay1", [*given, *out], ok)) == ["PaymentRefunded"]


def test_cancel_voids_in_flight_and_refunds_a_late_capture():
    voided = run(payments, "pay1", [STARTED], msg(CancelPayment, payment_id="pay1",
                                                  order_id="o1", reason="customer"))
    assert types(voided) == ["PaymentVoided"]
    late = run(payments, "pay1", [STARTED, *voided], DEBITED)
    assert types(late) == ["PaymentCapturedAfterVoid", "RefundStarted"]
    state = fold(payments, "pay1", [STARTED, *voided, *late])
    assert state.charges == 1 and state.refundable == 0
    after_success = run(payments, "pay1", [STARTED, SUCCEEDED], msg(
        CancelPayment, payment_id="pay1", order_id="o1", reason="customer"))
    assert types(after_success) == ["RefundStarted"]


SHIP = dict(shipment_id="s1", order_id="o1", items=(line(),), address=ADDRESS)
REQUESTED = msg(LabelRequested, **SHIP, idempotency_key="s1")
CREATED = msg(ShipmentCreated, shipment_id="s1", order_id="o1", tracking_number="T1",
              carrier="c")


def test_create_shipment_asks_the_carrier():
    out = run(shipments, "s1", [], msg(CreateShipment, **SHIP))
    assert types(out) == ["LabelRequested"]
    ok = msg(RecordCarrierResult, shipment_id="s1", outcome="accepted", tracking_number="T1",
             carrier="c")
    assert types(run(shipments, "s1", out, ok)) == ["ShipmentCreated"]
    no = msg(RecordCarrierResult, shipment_id="s1", outcome="refused", reason="no service")
    assert run(shipments, "s1", out, no)[0].reason == "no service"


def test_a_shipment_requested_by_an_older_build_is_still_requested_and_its_label_is_answered():
    older = [msg(ShipmentRequested, **SHIP), msg(LabelRequested, **SHIP, idempotency_key="s1")]
    assert fold(shipments, "s1", older).status == "requested"
    ok = msg(RecordCarrierResult, shipment_id="s1", outcome="accepted", tracking_number="T1",
             carrier="c")
    assert types(run(shipments, "s1", older, ok)) == ["ShipmentCreated"]


def test_prepare_schedule_and_schedule_without_terms():
    prepared = run(shipments, "s1", [], msg(PrepareShipment, **SHIP))
    assert types(run(shipments, "s1", prepared, msg(ScheduleShipment, shipment_id="s1",
                                                    order_id="o1"))) == [
        "LabelRequested"]
    assert types(run(shipments, "s1", [], msg(ScheduleShipment, shipment_id="s1",
                                              order_id="o1"))) == ["ShipmentFailed"]


def test_tracking_updates_and_illegal_moves():
    track = lambda status: msg(UpdateShipmentStatus, shipment_id="s1", status=status,
                               location="Hub")
    dispatched = run(shipments, "s1", [REQUESTED, CREATED], track("dispatched"))
    assert types(dispatched) == ["ShipmentDispatched"]
    given = [REQUESTED, CREATED, *dispatched]
    assert types(run(shipments, "s1", given, track("in_transit"))) == ["ShipmentStatusUpdated"]
    delivered = run(shipments, "s1", given, track("delivered"))
    assert delivered[0].delivery_time == T0
    assert types(run(shipments, "s1", [REQUESTED, CREATED], track("delivered"))) == [
        "ShipmentRejected"]


def test_cancel_before_dispatch_only():
    cancel = msg(CancelShipment, shipment_id="s1", order_id="o1", reason="customer")
    asked = run(shipments, "s1", [REQUESTED, CREATED], cancel)
    assert types(asked) == ["LabelCancelRequested"]
    confirmed = msg(RecordCarrierCancelResult, shipment_id="s1", outcome="cancelled")
    assert types(run(shipments, "s1", [REQUESTED, CREATED, *asked], confirmed)) == [
        "ShipmentCancelled"]
    dispatched = msg(ShipmentDispatched, shipment_id="s1", order_id="o1")
    assert types(run(shipments, "s1", [REQUESTED, CREATED, dispatched], cancel)) == [
        "ShipmentRejected"]
    tomb = run(shipments, "s1", [], cancel)
    assert types(run(shipments, "s1", tomb, msg(CreateShipment, **SHIP))) == [
        "ShipmentCancelled"]
