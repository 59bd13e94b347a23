"""Refunds of one payment, keyed by refund id: never more than was captured."""

from typing import assert_never

from orderstream.contracts.account import AccountCredited, CreditRefused
from orderstream.contracts.envelope import Message, derive
from orderstream.contracts.payment import (GatewayRefundRequested, PaymentRefunded,
                                           RecordGatewayRefundResult, RefundFailed,
                                           RefundPayment, RefundRejected, RefundStarted)
from orderstream.payment.state import Payment, Refund
from orderstream.payment.voids import unknown

__all__ = ["Refund", "decide_refund", "request_refund", "refund_outcome", "start_refund"]


def decide_refund(cmd: RefundPayment | RecordGatewayRefundResult | AccountCredited
                  | CreditRefused, state: Payment) -> list[Message]:
    match cmd:
        case RefundPayment():
            return request_refund(cmd, state, cmd.refund_id, cmd.amount, cmd.reason)
        case RecordGatewayRefundResult(outcome="unknown"):
            known = state.refunds.get(cmd.refund_id)
            pending = known is not None and known.status == "pending"
            return [unknown(cmd, state, "refund", cmd.reason)] if pending else []
        case RecordGatewayRefundResult():
            return _finish(cmd, state, cmd.refund_id, cmd.outcome == "approved",
                           cmd.reason or "refund declined by the gateway")
        case AccountCredited():
            return _finish(cmd, state, cmd.credit_id, True, "")
        case CreditRefused():
            return _finish(cmd, state, cmd.credit_id, False, f"credit refused: {cmd.reason}")
        case _:
            assert_never(cmd)


def request_refund(cmd: Message, state: Payment, refund_id: str, amount: int | None,
                   reason: str) -> list[Message]:
    known = state.refunds.get(refund_id)
    if known is not None and known.status != "failed":
        return refund_outcome(cmd, state, refund_id)
    wanted = state.refundable if amount is None else amount
    problem = ("nothing was captured" if state.captured == 0
               else "nothing left to refund" if wanted <= 0
               else f"amount {wanted} exceeds the refundable {state.refundable}"
               if wanted > state.refundable else None)
    if problem:
        return [derive(cmd, RefundRejected, payment_id=state.payment_id,
                       order_id=state.order_id or "-", refund_id=refund_id, reason=problem)]
    return start_refund(cmd, state, refund_id, wanted, reason)


def start_refund(cmd: Message, state: Payment, refund_id: str, amount: int,
                 reason: str) -> list[Message]:
    events: list[Message] = [derive(
        cmd, RefundStarted, payment_id=state.payment_id, order_id=state.order_id,
        refund_id=refund_id, amount=amount, currency=state.currency, reason=reason,
        payment_method=state.payment_method, account_id=state.account_id)]
    if state.payment_method == "card":
        events.append(derive(cmd, GatewayRefundRequested, payment_id=state.payment_id,
                             order_id=state.order_id, refund_id=refund_id,
                             transaction_id=state.transaction_id or "-", amount=amount,
                             currency=state.currency, idempotency_key=refund_id))
    return events


def refund_outcome(cmd: Message, state: Payment, refund_id: str) -> list[Message]:
    """The refund's answer so far, again: pending re-asks the account or gateway."""
    known = state.refunds[refund_id]
    ids = dict(payment_id=state.payment_id, order_id=state.order_id, refund_id=refund_id)
    if known.status == "refunded":
        return [derive(cmd, PaymentRefunded, **ids, amount=known.amount,
                       refunded_total=known.refunded_total)]
    if known.status == "failed":
        return [derive(cmd, RefundFailed, **ids, reason=known.reason)]
    return start_refund(cmd, state, refund_id, known.amount, known.reason)


def _finish(cmd: Message, state: Payment, refund_id: str, ok: bool,
            reason: str) -> list[Message]:
    known = state.refunds.get(refund_id)
    if known is None:
        return []
    if known.status != "pending":
        return refund_outcome(cmd, state, refund_id)
    ids = dict(payment_id=state.payment_id, order_id=state.order_id, refund_id=refund_id)
    if ok:
        return [derive(cmd, PaymentRefunded, **ids, amount=known.amount,
                       refunded_total=state.refunded + known.amount)]
    return [derive(cmd, RefundFailed, **ids, reason=reason)]
