"""Gateway answers not seen, and voids of a card charge by its idempotency key.

An unseen answer changes nothing but the record of why (`unresolved`): the saga's retry asks
again with the same key. A void names the charge's key, not its transaction, so it reverses a
charge whose success was never seen; the payment is `voided` only when the gateway confirms.
"""

from typing import Literal

from orderstream.contracts.envelope import Message, derive
from orderstream.contracts.payment import (GatewayOutcomeUnknown, GatewayVoidRequested,
                                           PaymentVoided, RecordGatewayVoidResult)
from orderstream.payment.state import Payment


def unknown(cmd: Message, state: Payment, operation: Literal["charge", "void", "refund"],
            reason: str | None) -> GatewayOutcomeUnknown:
    return derive(cmd, GatewayOutcomeUnknown, payment_id=state.payment_id,
                  order_id=state.order_id or "-", operation=operation,
                  reason=reason or "no answer from the gateway")


def request_void(cmd: Message, state: Payment, reason: str) -> GatewayVoidRequested:
    return derive(cmd, GatewayVoidRequested, payment_id=state.payment_id,
                  order_id=state.order_id, charge_key=state.charge_key,
                  idempotency_key=state.void_key, reason=reason)


def void_answered(cmd: RecordGatewayVoidResult, state: Payment) -> list[Message]:
    if state.status != "voiding":
        return []
    if cmd.outcome == "unknown":
        return [unknown(cmd, state, "void", cmd.reason)]
    return [derive(cmd, PaymentVoided, payment_id=state.payment_id, order_id=state.order_id,
                   reason=state.reason, transaction_id=cmd.transaction_id,
                   reversed_amount=cmd.reversed_amount)]


def voided(state: Payment, event: PaymentVoided) -> Payment:
    update: dict[str, object] = {"status": "voided", "reason": event.reason,
                                 "order_id": event.order_id, "unresolved": ""}
    if event.reversed_amount:  # a capture we may never have seen, given back by the void
        update.update(captured=event.reversed_amount, reversed=event.reversed_amount,
                      transaction_id=event.transaction_id, charges=state.charges + 1)
    return state.model_copy(update=update)
