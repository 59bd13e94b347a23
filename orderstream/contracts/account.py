"""Account messages, keyed by account id. Replies to a debit or a refund credit carry the
`payment_id` that asked, so the runtime can route them back to that payment."""

from typing import ClassVar, Literal

from orderstream.contracts.common import Amount, Currency, Id, PositiveAmount, Reason, Text
from orderstream.contracts.envelope import Message


class AccountMessage(Message):
    context: ClassVar[str] = "account"
    account_id: Id

    @property
    def key(self) -> str:
        return self.account_id


# --- commands -----------------------------------------------------------------------------
class OpenAccount(AccountMessage):
    type: Literal["OpenAccount"] = "OpenAccount"
    customer_id: Id
    currency: Currency


class ValidateAccount(AccountMessage):
    type: Literal["ValidateAccount"] = "ValidateAccount"
    order_id: Id


class DebitAccount(AccountMessage):
    """Idempotent per payment_id: the same debit delivered twice debits once."""
    type: Literal["DebitAccount"] = "DebitAccount"
    amount: PositiveAmount
    currency: Currency
    order_id: Id
    payment_id: Id


class CreditAccount(AccountMessage):
    """Idempotent per credit_id (a refund id for refunds, an edge-made id for top-ups)."""
    type: Literal["CreditAccount"] = "CreditAccount"
    amount: PositiveAmount
    currency: Currency
    reason: Reason
    credit_id: Id
    payment_id: Id | None = None


class FreezeAccount(AccountMessage):
    type: Literal["FreezeAccount"] = "FreezeAccount"
    reason: Reason


class UnfreezeAccount(AccountMessage):
    type: Literal["UnfreezeAccount"] = "UnfreezeAccount"


# --- events -------------------------------------------------------------------------------
class AccountOpened(AccountMessage):
    type: Literal["AccountOpened"] = "AccountOpened"
    customer_id: Id
    currency: Currency


class AccountValid(AccountMessage):
    type: Literal["AccountValid"] = "AccountValid"
    order_id: Id


class AccountInvalid(AccountMessage):
    type: Literal["AccountInvalid"] = "AccountInvalid"
    order_id: Id
    reason: Literal["missing", "frozen"]


class AccountDebited(AccountMessage):
    type: Literal["AccountDebited"] = "AccountDebited"
    order_id: Id
    payment_id: Id
    transaction_id: Id
    amount: PositiveAmount
    new_balance: Amount


class InsufficientFunds(AccountMessage):
    type: Literal["InsufficientFunds"] = "InsufficientFunds"
    order_id: Id
    payment_id: Id
    requested_amount: PositiveAmount
    balance: Amount


class DebitRefused(AccountMessage):
    """A debit refused for a reason other than funds: missing, frozen, currency mismatch."""
    type: Literal["DebitRefused"] = "DebitRefused"
    order_id: Id
    payment_id: Id
    reason: Reason


class AccountCredited(AccountMessage):
    type: Literal["AccountCredited"] = "AccountCredited"
    credit_id: Id
    payment_id: Id | None = None
    transaction_id: Id
    amount: PositiveAmount
    new_balance: Amount
    reason: Reason


class CreditRefused(AccountMessage):
    type: Literal["CreditRefused"] = "CreditRefused"
    credit_id: Id
    payment_id: Id | None = None
    reason: Reason


class AccountFrozen(AccountMessage):
    type: Literal["AccountFrozen"] = "AccountFrozen"
    reason: Reason


class AccountUnfrozen(AccountMessage):
    type: Literal["AccountUnfrozen"] = "AccountUnfrozen"


class AccountRejected(AccountMessage):
    type: Literal["AccountRejected"] = "AccountRejected"
    command: Text
    reason: Reason
