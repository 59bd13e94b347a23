"""Payment messages, keyed by payment id (derived from the order id: one payment per order).

Card payments go through a gateway port: the decider emits `GatewayChargeRequested` /
`GatewayRefundRequested` / `GatewayVoidRequested`; the payment context's port calls the gateway
(with `idempotency_key`) and feeds the answer back as `RecordGatewayResult` /
`RecordGatewayRefundResult` / `RecordGatewayVoidResult`. An answer the port did not see (timeout,
5xx, open circuit) comes back as `outcome="unknown"`: never a decline.
Account payments go through the account context: `DebitAccount` / `CreditAccount`, whose
replies carry `payment_id`.
"""

import hashlib
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from orderstream.contracts.common import Amount, Currency, Id, PositiveAmount, Reason, Text
from orderstream.contracts.envelope import Message

PaymentMethod = Literal["account", "card"]
GatewayOutcome = Literal["approved", "declined", "unknown"]
CardToken = Annotated[str | None, Field(max_length=200, validate_default=True)]
CardRef = Annotated[str | None, Field(pattern=r"^card_[0-9a-f]{32}$", validate_default=True)]


def card_ref(token: str) -> str:
    """What names a card on Kafka and in stored rows: a one-way fingerprint of its token (the
    same card, the same reference). The token itself goes no further than the HTTP edge."""
    return "card_" + hashlib.sha256(token.encode()).hexdigest()[:32]


def card_required(field: str) -> Any:
    """A validator of `field` (declared after `payment_method`): a card payment needs one."""
    def check(card: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("payment_method") == "card" and not card:
            raise ValueError("required when payment_method is 'card'")
        return card
    return field_validator(field)(check)


class PaymentMessage(Message):
    context: ClassVar[str] = "payment"
    payment_id: Id

    @property
    def key(self) -> str:
        return self.payment_id


class Payer(PaymentMessage):
    """Who pays for an order, and how."""
    order_id: Id
    account_id: Id
    payment_method: PaymentMethod
    card_ref: CardRef = None

    _card_required = card_required("card_ref")


class PaymentTerms(Payer):
    """What is to be charged (the order's total at catalog prices), to whom and how."""
    amount: PositiveAmount
    currency: Currency


# --- commands -----------------------------------------------------------------------------
class ProcessPayment(PaymentTerms):
    type: Literal["ProcessPayment"] = "ProcessPayment"


class PreparePayment(Payer):
    """Choreography: keep the payer from OrderCreated until `ChargePayment` arrives."""
    type: Literal["PreparePayment"] = "PreparePayment"


class ChargePayment(PaymentMessage):
    """Choreography (seed name): charge a prepared payment the total of the reserved items."""
    type: Literal["ChargePayment"] = "ChargePayment"
    order_id: Id
    amount: PositiveAmount
    currency: Currency


class CancelPayment(PaymentMessage):
    """Compensation when the charge may be in flight: void it, or refund it if it lands."""
    type: Literal["CancelPayment"] = "CancelPayment"
    order_id: Id
    reason: Reason


class RefundPayment(PaymentMessage):
    """amount None: everything still refundable. Idempotent per refund_id."""
    type: Literal["RefundPayment"] = "RefundPayment"
    refund_id: Id
    amount: PositiveAmount | None = None
    reason: Reason


class RecordGatewayResult(PaymentMessage):
    """The gateway's answer to a charge; `unknown`: none was seen, the charge may have happened."""
    type: Literal["RecordGatewayResult"] = "RecordGatewayResult"
    outcome: GatewayOutcome
    transaction_id: Id | None = None
    reason: Reason | None = None


class RecordGatewayRefundResult(PaymentMessage):
    type: Literal["RecordGatewayRefundResult"] = "RecordGatewayRefundResult"
    refund_id: Id
    outcome: GatewayOutcome
    reason: Reason | None = None


class RecordGatewayVoidResult(PaymentMessage):
    """`voided`: the gateway reversed the charge made with the key (`reversed_amount` > 0), or
    none was made and none will be. `unknown`: no confirmation seen."""
    type: Literal["RecordGatewayVoidResult"] = "RecordGatewayVoidResult"
    outcome: Literal["voided", "unknown"]
    transaction_id: Id | None = None
    reversed_amount: Amount = 0
    reason: Reason | None = None


# --- events -------------------------------------------------------------------------------
class PaymentPrepared(Payer):
    type: Literal["PaymentPrepared"] = "PaymentPrepared"


class PaymentStarted(PaymentTerms):
    type: Literal["PaymentStarted"] = "PaymentStarted"


class GatewayChargeRequested(PaymentMessage):
    type: Literal["GatewayChargeRequested"] = "GatewayChargeRequested"
    order_id: Id
    amount: PositiveAmount
    currency: Currency
    card_ref: str
    idempotency_key: Id


class GatewayOutcomeUnknown(PaymentMessage):
    """No answer seen from the gateway: the payment stays as it was, and the saga's retry asks
    again with the same idempotency key."""
    type: Literal["GatewayOutcomeUnknown"] = "GatewayOutcomeUnknown"
    order_id: Id
    operation: Literal["charge", "void", "refund"]
    reason: Reason


class GatewayVoidRequested(PaymentMessage):
    """Void the charge sent with `charge_key`, whether or not its success was seen."""
    type: Literal["GatewayVoidRequested"] = "GatewayVoidRequested"
    order_id: Id
    charge_key: Id
    idempotency_key: Id
    reason: Reason


class PaymentSucceeded(PaymentMessage):
    type: Literal["PaymentSucceeded"] = "PaymentSucceeded"
    order_id: Id
    transaction_id: Id
    amount: PositiveAmount
    currency: Currency


class PaymentFailed(PaymentMessage):
    type: Literal["PaymentFailed"] = "PaymentFailed"
    order_id: Id
    reason: Reason


class PaymentAlreadyProcessed(PaymentMessage):
    """Answer to a repeated charge request: the original outcome, nothing charged again."""
    type: Literal["PaymentAlreadyProcessed"] = "PaymentAlreadyProcessed"
    order_id: Id
    status: Literal["succeeded", "failed", "voided"]
    transaction_id: Id | None = None
    reason: Reason | None = None


class PaymentVoided(PaymentMessage):
    """Nothing charged stays charged; `reversed_amount` > 0 when the void gave a capture back."""
    type: Literal["PaymentVoided"] = "PaymentVoided"
    order_id: Id
    reason: Reason
    transaction_id: Id | None = None
    reversed_amount: Amount = 0


class PaymentCapturedAfterVoid(PaymentMessage):
    """A charge in flight landed after the payment was voided or failed: it is refunded."""
    type: Literal["PaymentCapturedAfterVoid"] = "PaymentCapturedAfterVoid"
    order_id: Id
    transaction_id: Id
    amount: PositiveAmount


class RefundStarted(PaymentMessage):
    """Carries how the money goes back (account credit or gateway refund)."""
    type: Literal["RefundStarted"] = "RefundStarted"
    order_id: Id
    refund_id: Id
    amount: PositiveAmount
    currency: Currency
    reason: Reason
    payment_method: PaymentMethod
    account_id: Id


class GatewayRefundRequested(PaymentMessage):
    type: Literal["GatewayRefundRequested"] = "GatewayRefundRequested"
    order_id: Id
    refund_id: Id
    transaction_id: Id
    amount: PositiveAmount
    currency: Currency
    idempotency_key: Id


class PaymentRefunded(PaymentMessage):
    type: Literal["PaymentRefunded"] = "PaymentRefunded"
    order_id: Id
    refund_id: Id
    amount: PositiveAmount
    refunded_total: Amount


class RefundFailed(PaymentMessage):
    type: Literal["RefundFailed"] = "RefundFailed"
    order_id: Id
    refund_id: Id
    reason: Reason


class RefundRejected(PaymentMessage):
    type: Literal["RefundRejected"] = "RefundRejected"
    order_id: Id
    refund_id: Id
    reason: Reason


class PaymentRejected(PaymentMessage):
    type: Literal["PaymentRejected"] = "PaymentRejected"
    command: Text
    reason: Reason
    order_id: Id | None = None
