"""The state of one payment (see decider.py for its rules)."""

from typing import Literal

from pydantic import BaseModel

from orderstream.contracts.common import Value
from orderstream.contracts.envelope import derived_id

TERMS = {"payment_id", "order_id", "account_id", "amount", "currency", "payment_method",
         "card_ref"}


class Refund(Value):
    amount: int
    status: Literal["pending", "refunded", "failed"]
    reason: str
    refunded_total: int = 0


class Payment(Value):
    payment_id: str
    status: Literal["none", "prepared", "pending", "succeeded", "failed", "voiding",
                    "voided"] = "none"
    order_id: str = ""
    account_id: str = ""
    amount: int = 0
    currency: str = ""
    payment_method: Literal["account", "card"] = "account"
    card_ref: str | None = None
    transaction_id: str | None = None
    reason: str = ""
    captured: int = 0
    reversed: int = 0              # captured, then given back by the void
    charges: int = 0
    refunds: dict[str, Refund] = {}
    unresolved: str = ""           # why the last gateway call's outcome is unknown

    @property
    def charge_key(self) -> str:
        """The gateway idempotency key of this payment's one charge (and of its void)."""
        return self.payment_id

    @property
    def void_key(self) -> str:
        return derived_id("void", self.payment_id)

    def terms(self) -> dict[str, object]:
        return self.model_dump(include=TERMS)

    def with_terms(self, message: BaseModel) -> "Payment":
        """The terms `message` carries (a payer, an amount, or both) recorded."""
        return self.model_copy(update={name: getattr(message, name) for name in TERMS
                                       if name in type(message).model_fields})

    @property
    def refunded(self) -> int:
        return sum(r.amount for r in self.refunds.values() if r.status == "refunded")

    @property
    def refundable(self) -> int:
        """Captured minus what is refunded or being refunded: never refund more."""
        held = sum(r.amount for r in self.refunds.values() if r.status != "failed")
        return self.captured - self.reversed - held
