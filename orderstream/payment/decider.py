"""Payment: charged at most once, refunded at most what was captured.

One payment per order (its id is derived from the order id). A repeated charge request is
answered with PaymentAlreadyProcessed; a repeated reply with the original outcome. A payment
voided while its charge was in flight refunds that charge if it lands later.

A gateway answer that was not seen (timeout, 5xx, open circuit) is unknown, never a decline:
the payment stays pending and the saga's retry asks again with the same idempotency key. A card
payment cancelled while pending is voided at the gateway by that key, whether or not a success
was seen, and is `voided` only once the gateway confirmed it.
"""

from typing import assert_never

from orderstream.contracts.account import (AccountCredited, AccountDebited, CreditAccount,
                                           CreditRefused, DebitAccount, DebitRefused,
                                           InsufficientFunds)
from orderstream.contracts.envelope import Message, derive
from orderstream.contracts.ids import compensation_refund_id
from orderstream.contracts.payment import (
    CancelPayment, ChargePayment, GatewayChargeRequested, GatewayOutcomeUnknown,
    GatewayRefundRequested, GatewayVoidRequested, PaymentAlreadyProcessed,
    PaymentCapturedAfterVoid, PaymentFailed, PaymentPrepared, PaymentRefunded,
    PaymentRejected, PaymentStarted, PaymentSucceeded, PaymentVoided, PreparePayment,
    ProcessPayment, RecordGatewayRefundResult, RecordGatewayResult, RecordGatewayVoidResult,
    RefundFailed, RefundPayment, RefundRejected, RefundStarted)
from orderstream.domain import Decider
from orderstream.payment.refunds import (Refund, decide_refund, refund_outcome,
                                         request_refund, start_refund)
from orderstream.payment.state import TERMS, Payment
from orderstream.payment.voids import request_void, unknown, void_answered, voided

PaymentCommand = (ProcessPayment | PreparePayment | ChargePayment | CancelPayment
                  | RefundPayment | RecordGatewayResult | RecordGatewayRefundResult
                  | RecordGatewayVoidResult | AccountDebited | InsufficientFunds
                  | DebitRefused | AccountCredited | CreditRefused)


def decide(cmd: PaymentCommand, state: Payment) -> list[Message]:
    match cmd:
        case ProcessPayment():
            return _charge(cmd, state.with_terms(cmd) if state.status == "none" else state)
        case PreparePayment():
            if state.status not in ("none", "prepared"):
                return []
            return [derive(cmd, PaymentPrepared, **cmd.model_dump(include=TERMS))]
        case ChargePayment():
            if state.status == "none":
                return [derive(cmd, PaymentFailed, payment_id=cmd.payment_id,
                               order_id=cmd.order_id, reason="no payment terms for this order")]
            return _charge(cmd, state.with_terms(cmd) if state.status == "prepared" else state)
        case CancelPayment():
            return _cancel(cmd, state)
        case RefundPayment() | RecordGatewayRefundResult() | AccountCredited() | CreditRefused():
            return decide_refund(cmd, state)
        case RecordGatewayResult(outcome="unknown"):
            waiting = state.status == "pending"
            return [unknown(cmd, state, "charge", cmd.reason)] if waiting else []
        case RecordGatewayResult():
            return _settle(cmd, state, cmd.outcome == "approved", cmd.transaction_id,
                           cmd.reason or "declined by the gateway")
        case RecordGatewayVoidResult():
            return void_answered(cmd, state)
        case AccountDebited():
            return _settle(cmd, state, True, cmd.transaction_id, "")
        case InsufficientFunds():
            return _settle(cmd, state, False, None, f"insufficient funds: requested "
                           f"{cmd.requested_amount}, balance {cmd.balance}")
        case DebitRefused():
            return _settle(cmd, state, False, None, f"account {cmd.reason}")
        case _:
            assert_never(cmd)


def _charge(cmd: Message, state: Payment) -> list[Message]:
    if state.status == "voiding":
        return []  # a retry of the step that arrives after the cancel must not charge
    if state.status in ("succeeded", "failed", "voided"):
        return [derive(cmd, PaymentAlreadyProcessed, payment_id=state.payment_id,
                       order_id=state.order_id, status=state.status,
                       transaction_id=state.transaction_id, reason=state.reason or None)]
    events: list[Message] = [derive(cmd, PaymentStarted, **state.terms())]
    if state.payment_method == "card":  # (re)ask the gateway; its idempotency key dedupes
        events.append(derive(cmd, GatewayChargeRequested, payment_id=state.payment_id,
                             order_id=state.order_id, amount=state.amount,
                             currency=state.currency, card_ref=state.card_ref or "",
                             idempotency_key=state.charge_key))
    return events


def _cancel(cmd: CancelPayment, state: Payment) -> list[Message]:
    if state.status == "succeeded":
        return request_refund(cmd, state, compensation_refund_id(state.order_id), None,
                              cmd.reason)
    reason = state.reason if state.status in ("voiding", "voided") else cmd.reason
    if state.payment_method == "card" and state.status in ("pending", "voiding"):
        return [request_void(cmd, state, reason)]
    return [derive(cmd, PaymentVoided, payment_id=cmd.payment_id, order_id=cmd.order_id,
                   reason=reason, transaction_id=state.transaction_id if state.reversed else None,
                   reversed_amount=state.reversed)]


def _settle(cmd: Message, state: Payment, approved: bool, transaction_id: str | None,
            reason: str) -> list[Message]:
    ids = dict(payment_id=state.payment_id, order_id=state.order_id)
    if state.status == "pending" and approved:
        return [derive(cmd, PaymentSucceeded, **ids, transaction_id=transaction_id or "-",
                       amount=state.amount, currency=state.currency)]
    if state.status == "pending":
        return [derive(cmd, PaymentFailed, **ids, reason=reason)]
    if state.status in ("failed", "voided") and approved and transaction_id:
        return _late_capture(cmd, state, transaction_id)
    if state.status in ("succeeded", "failed"):
        return [_outcome(cmd, state)]
    return []


def _late_capture(cmd: Message, state: Payment, transaction_id: str) -> list[Message]:
    """A charge landed after the payment gave up on it: record it and give the money back."""
    if state.reversed:
        return []  # the void already gave this charge back
    captured = derive(cmd, PaymentCapturedAfterVoid, payment_id=state.payment_id,
                      order_id=state.order_id, transaction_id=transaction_id,
                      amount=state.amount)
    after = evolve(state, captured)
    refund_id = compensation_refund_id(state.order_id)
    if refund_id in state.refunds:
        return refund_outcome(cmd, state, refund_id)
    return [captured, *start_refund(cmd, after, refund_id, state.amount,
                                    "charge landed after the payment was voided")]


def _outcome(cmd: Message, state: Payment) -> Message:
    ids = dict(payment_id=state.payment_id, order_id=state.order_id)
    if state.status == "succeeded":
        return derive(cmd, PaymentSucceeded, **ids, transaction_id=state.transaction_id,
                      amount=state.amount, currency=state.currency)
    return derive(cmd, PaymentFailed, **ids, reason=state.reason)


PaymentEvent = (PaymentPrepared | PaymentStarted | GatewayChargeRequested | PaymentSucceeded
                | PaymentFailed | PaymentAlreadyProcessed | GatewayOutcomeUnknown
                | GatewayVoidRequested | PaymentVoided | PaymentCapturedAfterVoid
                | RefundStarted | GatewayRefundRequested | PaymentRefunded | RefundFailed
                | RefundRejected | PaymentRejected)


def evolve(state: Payment, event: PaymentEvent) -> Payment:
    match event:
        case PaymentPrepared() if state.status == "none":
            return state.with_terms(event).model_copy(update={"status": "prepared"})
        case PaymentStarted() if state.status in ("none", "prepared"):
            return state.with_terms(event).model_copy(update={"status": "pending"})
        case PaymentSucceeded() if state.status == "pending":
            return state.model_copy(update={"status": "succeeded", "captured": state.amount,
                                            "transaction_id": event.transaction_id,
                                            "charges": state.charges + 1, "unresolved": ""})
        case PaymentFailed() if state.status in ("none", "pending", "prepared"):
            return state.model_copy(update={"status": "failed", "reason": event.reason,
                                            "order_id": event.order_id, "unresolved": ""})
        case GatewayOutcomeUnknown():
            return state.model_copy(update={"unresolved": f"{event.operation}: {event.reason}"})
        case GatewayVoidRequested() if state.status == "pending":
            return state.model_copy(update={"status": "voiding", "reason": event.reason})
        case PaymentVoided() if state.status in ("none", "prepared", "pending", "failed",
                                                 "voiding"):
            return voided(state, event)
        case PaymentCapturedAfterVoid() if state.captured == 0:
            return state.model_copy(update={"captured": event.amount,
                                            "transaction_id": event.transaction_id,
                                            "charges": state.charges + 1})
        case RefundStarted() | PaymentRefunded() | RefundFailed():
            return _evolve_refund(state, event)
        case PaymentPrepared() | PaymentStarted() | GatewayChargeRequested() | PaymentSucceeded() \
                | PaymentFailed() | PaymentAlreadyProcessed() | GatewayVoidRequested() \
                | PaymentVoided() | PaymentCapturedAfterVoid() | GatewayRefundRequested() \
                | RefundRejected() | PaymentRejected():
            return state  # already applied, or nothing to change
        case _:
            assert_never(event)


def _evolve_refund(state: Payment, event: RefundStarted | PaymentRefunded | RefundFailed
                   ) -> Payment:
    known = state.refunds.get(event.refund_id)
    match event:
        case RefundStarted() if known is None or known.status == "failed":
            refund = Refund(amount=event.amount, status="pending", reason=event.reason)
        case PaymentRefunded() if known is not None and known.status == "pending":
            refund = known.model_copy(update={"status": "refunded",
                                              "refunded_total": event.refunded_total})
        case RefundFailed() if known is not None and known.status == "pending":
            refund = known.model_copy(update={"status": "failed", "reason": event.reason})
        case _:
            return state
    return state.model_copy(update={"refunds": {**state.refunds, event.refund_id: refund}})



def react(event: Message) -> list[Message]:
    """Account payments: move the money through the account context."""
    match event:
        case PaymentStarted(payment_method="account"):
            return [derive(event, DebitAccount, account_id=event.account_id,
                           amount=event.amount, currency=event.currency,
                           order_id=event.order_id, payment_id=event.payment_id)]
        case RefundStarted(payment_method="account"):
            return [derive(event, CreditAccount, account_id=event.account_id,
                           amount=event.amount, currency=event.currency,
                           reason=f"refund: {event.reason}", credit_id=event.refund_id,
                           payment_id=event.payment_id)]
        case _:
            return []


payments = Decider[Payment](
    name="payments",
    commands=(ProcessPayment, PreparePayment, ChargePayment, CancelPayment, RefundPayment,
              RecordGatewayResult, RecordGatewayRefundResult, RecordGatewayVoidResult,
              AccountDebited, InsufficientFunds, DebitRefused, AccountCredited, CreditRefused),
    state=Payment, initial=lambda payment_id: Payment(payment_id=payment_id),
    decide=decide, evolve=evolve, react=react)

DECIDERS = (payments,)
