"""Account: a balance that never goes below zero, and its transaction history.

Debits are idempotent per payment id and credits per credit id: a repeat gets the original
answer (same new balance, same transaction id) and moves no money. The ledger remembers every
booking and refusal by reference (stored one row each: it grows with every order); the account
shows its RECENT latest transactions, and `account.events` holds them all.
"""

from datetime import datetime
from typing import Literal, assert_never

from orderstream.contracts.account import (
    AccountCredited, AccountDebited, AccountFrozen, AccountInvalid, AccountOpened,
    AccountRejected, AccountUnfrozen, AccountValid, CreditAccount, CreditRefused, DebitAccount,
    DebitRefused, FreezeAccount, InsufficientFunds, OpenAccount, UnfreezeAccount,
    ValidateAccount)
from orderstream.contracts.common import Value
from orderstream.contracts.envelope import Message, derive, derived_id
from orderstream.domain import Decider, Entries


class Transaction(Value):
    transaction_id: str
    kind: Literal["debit", "credit"]
    reference: str          # payment id of a debit, credit id of a credit
    amount: int
    balance_after: int
    reason: str
    at: datetime


class Refusal(Value):
    reason: str             # "insufficient funds" or why the debit was refused
    requested: int
    balance: int


class Account(Value):
    account_id: str
    opened: bool = False
    customer_id: str = ""
    currency: str = ""
    frozen: bool = False
    freeze_reason: str = ""
    balance: int = 0
    transactions: tuple[Transaction, ...] = ()      # the RECENT latest, oldest first
    ledger: dict[str, Transaction | Refusal] = {}   # by "<kind>:<reference>": what a repeat gets

    @property
    def status(self) -> str:
        return "frozen" if self.frozen else "open" if self.opened else "none"

    def find(self, kind: str, reference: str) -> Transaction | None:
        booked = self.ledger.get(booking(kind, reference))
        return booked if isinstance(booked, Transaction) else None

    def refusal(self, payment_id: str) -> Refusal | None:
        refused = self.ledger.get(booking("debit", payment_id))
        return refused if isinstance(refused, Refusal) else None


RECENT = 100


def booking(kind: str, reference: str) -> str:
    """The ledger key of a debit (by payment id) or a credit (by credit id)."""
    return f"{kind}:{reference}"


AccountCommand = (OpenAccount | ValidateAccount | DebitAccount | CreditAccount | FreezeAccount
                  | UnfreezeAccount)
AccountEvent = (AccountOpened | AccountValid | AccountInvalid | AccountDebited
                | InsufficientFunds | DebitRefused | AccountCredited | CreditRefused
                | AccountFrozen | AccountUnfrozen | AccountRejected)


def decide(cmd: AccountCommand, state: Account) -> list[Message]:
    match cmd:
        case OpenAccount():
            if state.opened and (state.customer_id, state.currency) != (
                    cmd.customer_id, cmd.currency):
                return [_rejected(cmd, "account already open for another customer/currency")]
            return [derive(cmd, AccountOpened, account_id=cmd.account_id,
                           customer_id=cmd.customer_id, currency=cmd.currency)]
        case ValidateAccount():
            problem = "missing" if not state.opened else "frozen" if state.frozen else None
            if problem:
                return [derive(cmd, AccountInvalid, account_id=cmd.account_id,
                               order_id=cmd.order_id, reason=problem)]
            return [derive(cmd, AccountValid, account_id=cmd.account_id, order_id=cmd.order_id)]
        case DebitAccount():
            return _debit(cmd, state)
        case CreditAccount():
            return _credit(cmd, state)
        case FreezeAccount():
            if not state.opened:
                return [_rejected(cmd, "no such account")]
            return [derive(cmd, AccountFrozen, account_id=cmd.account_id, reason=cmd.reason)]
        case UnfreezeAccount():
            if not state.opened:
                return [_rejected(cmd, "no such account")]
            return [derive(cmd, AccountUnfrozen, account_id=cmd.account_id)]
        case _:
            assert_never(cmd)


def _debit(cmd: DebitAccount, state: Account) -> list[Message]:
    """A repeat gets the original answer; a new debit is booked or refused."""
    ids = dict(account_id=cmd.account_id, order_id=cmd.order_id, payment_id=cmd.payment_id)
    if done := state.find("debit", cmd.payment_id):
        return [derive(cmd, AccountDebited, **ids, transaction_id=done.transaction_id,
                       amount=done.amount, new_balance=done.balance_after)]
    refused = state.refusal(cmd.payment_id) or _refusal(cmd, state)
    if refused and refused.reason == INSUFFICIENT:
        return [derive(cmd, InsufficientFunds, **ids, requested_amount=refused.requested,
                       balance=refused.balance)]
    if refused:
        return [derive(cmd, DebitRefused, **ids, reason=refused.reason)]
    return [derive(cmd, AccountDebited, **ids,
                   transaction_id=derived_id("debit", cmd.account_id, cmd.payment_id),
                   amount=cmd.amount, new_balance=state.balance - cmd.amount)]


INSUFFICIENT = "insufficient funds"


def _refusal(cmd: DebitAccount, state: Account) -> Refusal | None:
    """Why this account cannot pay this debit now, if it cannot."""
    reason = ("missing" if not state.opened else "frozen" if state.frozen
              else f"currency mismatch: account is {state.currency}, debit is {cmd.currency}"
              if cmd.currency != state.currency
              else INSUFFICIENT if cmd.amount > state.balance else None)
    return Refusal(reason=reason, requested=cmd.amount, balance=state.balance) if reason else None


def _credit(cmd: CreditAccount, state: Account) -> list[Message]:
    ids = dict(account_id=cmd.account_id, credit_id=cmd.credit_id, payment_id=cmd.payment_id)
    done = state.find("credit", cmd.credit_id)
    if done:
        return [derive(cmd, AccountCredited, **ids, transaction_id=done.transaction_id,
                       amount=done.amount, new_balance=done.balance_after, reason=done.reason)]
    if not state.opened or cmd.currency != state.currency:
        reason = "missing" if not state.opened else "currency mismatch"
        return [derive(cmd, CreditRefused, **ids, reason=reason)]
    return [derive(cmd, AccountCredited, **ids,
                   transaction_id=derived_id("credit", cmd.account_id, cmd.credit_id),
                   amount=cmd.amount, new_balance=state.balance + cmd.amount,
                   reason=cmd.reason)]


def _rejected(cmd: AccountCommand, reason: str) -> AccountRejected:
    return derive(cmd, AccountRejected, account_id=cmd.account_id, command=cmd.type,
                  reason=reason)


def evolve(state: Account, event: AccountEvent) -> Account:
    match event:
        case AccountOpened() if not state.opened:
            return state.model_copy(update={"opened": True, "customer_id": event.customer_id,
                                            "currency": event.currency})
        case AccountDebited() if not state.find("debit", event.payment_id):
            return _book(state, event, "debit", event.payment_id, -event.amount, "order payment")
        case AccountCredited() if not state.find("credit", event.credit_id):
            return _book(state, event, "credit", event.credit_id, event.amount, event.reason)
        case DebitRefused():
            return _refuse(state, event.payment_id, Refusal(reason=event.reason, requested=0,
                                                            balance=state.balance))
        case InsufficientFunds():
            return _refuse(state, event.payment_id, Refusal(
                reason=INSUFFICIENT, requested=event.requested_amount, balance=event.balance))
        case AccountFrozen():
            return state.model_copy(update={"frozen": True, "freeze_reason": event.reason})
        case AccountUnfrozen():
            return state.model_copy(update={"frozen": False, "freeze_reason": ""})
        case AccountOpened() | AccountValid() | AccountInvalid() | AccountDebited() \
                | AccountCredited() | CreditRefused() | AccountRejected():
            return state  # already applied, or nothing to change
        case _:
            assert_never(event)


def _refuse(state: Account, payment_id: str, refusal: Refusal) -> Account:
    if booking("debit", payment_id) in state.ledger:
        return state
    return state.model_copy(update={"ledger": {**state.ledger, booking("debit", payment_id): refusal}})


def _book(state: Account, event: AccountDebited | AccountCredited, kind: Literal[
        "debit", "credit"], reference: str, change: int, reason: str) -> Account:
    balance = state.balance + change
    entry = Transaction(transaction_id=event.transaction_id, kind=kind, reference=reference,
                        amount=abs(change), balance_after=balance, reason=reason,
                        at=event.occurred_at)
    return state.model_copy(update={"balance": balance,
                                    "transactions": (*state.transactions, entry)[-RECENT:],
                                    "ledger": {**state.ledger, booking(kind, reference): entry}})


def _reference(message: Message) -> str | None:
    match message:
        case DebitAccount():
            return booking("debit", message.payment_id)
        case CreditAccount():
            return booking("credit", message.credit_id)
    return None


accounts = Decider[Account](
    name="accounts",
    commands=(OpenAccount, ValidateAccount, DebitAccount, CreditAccount, FreezeAccount,
              UnfreezeAccount),
    state=Account, initial=lambda account_id: Account(account_id=account_id),
    decide=decide, evolve=evolve, entries=Entries("ledger", key=_reference))

DECIDERS = (accounts,)
