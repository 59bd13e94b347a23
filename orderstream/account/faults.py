"""Deliberately broken builds of the account context, FOR TESTS ONLY: they show that
`orderstream audit` catches the damage they do.

Chosen by ORDERSTREAM_FAULT_INJECTION, which is off unless set. It is read here and not in
orderstream/settings.py on purpose: the Helm chart sets exactly the settings there, so no
deployment made with the chart can switch a broken build on.

- double_debit: every debit is booked twice, under two transaction ids (when the balance allows).
"""

import os
from dataclasses import replace

from orderstream.account.decider import Account
from orderstream.contracts.account import AccountDebited, DebitAccount
from orderstream.contracts.envelope import Message, derive, derived_id
from orderstream.domain import Decider

VARIABLE = "ORDERSTREAM_FAULT_INJECTION"


def double_debit(accounts: Decider[Account]) -> Decider[Account]:
    def decide(cmd: Message, state: Account) -> list[Message]:
        events = accounts.decide(cmd, state)
        if not isinstance(cmd, DebitAccount) or state.find("debit", cmd.payment_id):
            return events
        return events + [_again(e) for e in events
                         if isinstance(e, AccountDebited) and e.new_balance >= e.amount]

    def evolve(state: Account, event: Message) -> Account:
        if isinstance(event, AccountDebited) and event.transaction_id == _again_id(event):
            event = event.model_copy(update={"payment_id": f"{event.payment_id}/again"})
        return accounts.evolve(state, event)

    return replace(accounts, decide=decide, evolve=evolve)


def _again_id(debit: AccountDebited) -> str:
    return derived_id("debit-again", debit.account_id, debit.payment_id)


def _again(debit: AccountDebited) -> AccountDebited:
    return derive(debit, AccountDebited, salt="again", account_id=debit.account_id,
                  order_id=debit.order_id, payment_id=debit.payment_id,
                  transaction_id=_again_id(debit), amount=debit.amount,
                  new_balance=debit.new_balance - debit.amount)


BROKEN = {"double_debit": double_debit}


def injected(deciders: tuple[Decider, ...]) -> tuple[Decider, ...]:
    """The deciders, broken as ORDERSTREAM_FAULT_INJECTION asks (unchanged when unset)."""
    fault = os.environ.get(VARIABLE, "")
    if not fault:
        return deciders
    if fault not in BROKEN:
        raise SystemExit(f"orderstream: invalid settings\n  {VARIABLE}: {fault!r} is not one of "
                         f"{sorted(BROKEN)} (a test-only setting; leave it unset)")
    return tuple(BROKEN[fault](d) if d.name == "accounts" else d for d in deciders)
