from orderstream.account.decider import accounts
from orderstream.contracts.account import *  # noqa: F403
from orderstream.contracts.customer import *  # noqa: F403
from orderstream.contracts.order import OrderConfirmed, OrderCreated, SagaPolicy
from orderstream.customer.decider import RECENT, customers

from builders import ADDRESS, T0, fold, later, line, msg, run, strip, types

OPENED = msg(AccountOpened, account_id="a1", customer_id="c1", currency="EUR")
FUNDED = msg(AccountCredited, account_id="a1", credit_id="t1", transaction_id="x1",
             amount=1000, new_balance=1000, reason="top-up")


def debit(amount=300, payment_id="pay1", currency="EUR"):
    return msg(DebitAccount, account_id="a1", amount=amount, currency=currency,
               order_id="o1", payment_id=payment_id)


def test_open_repeat_and_conflict():
    cmd = msg(OpenAccount, account_id="a1", customer_id="c1", currency="EUR")
    assert types(run(accounts, "a1", [], cmd)) == ["AccountOpened"]
    assert types(run(accounts, "a1", [OPENED], msg(OpenAccount, account_id="a1",
                                                   customer_id="c2", currency="EUR"))) == [
        "AccountRejected"]


def test_validate_valid_missing_frozen():
    cmd = msg(ValidateAccount, account_id="a1", order_id="o1")
    assert types(run(accounts, "a1", [OPENED], cmd)) == ["AccountValid"]
    assert run(accounts, "a1", [], cmd)[0].reason == "missing"
    frozen = msg(AccountFrozen, account_id="a1", reason="fraud")
    assert run(accounts, "a1", [OPENED, frozen], cmd)[0].reason == "frozen"


def test_debit_once_and_balance_never_negative():
    out = run(accounts, "a1", [OPENED, FUNDED], debit())
    assert strip(out)[0][1]["new_balance"] == 700
    state = fold(accounts, "a1", [OPENED, FUNDED, *out])
    assert strip(accounts.decide(debit(), state)) == strip(out)
    assert state.balance == 700 and len(state.transactions) == 2
    short = run(accounts, "a1", [OPENED, FUNDED], debit(amount=5000))
    assert strip(short) == [("InsufficientFunds", {"account_id": "a1", "order_id": "o1",
                                                   "payment_id": "pay1",
                                                   "requested_amount": 5000, "balance": 1000})]


def test_debit_refused_missing_frozen_currency():
    assert run(accounts, "a1", [], debit())[0].reason == "missing"
    frozen = msg(AccountFrozen, account_id="a1", reason="fraud")
    assert run(accounts, "a1", [OPENED, FUNDED, frozen], debit())[0].reason == "frozen"
    assert "currency" in run(accounts, "a1", [OPENED, FUNDED], debit(currency="USD"))[0].reason


def test_refused_debit_stays_refused_after_top_up():
    short = run(accounts, "a1", [OPENED], debit())
    later = fold(accounts, "a1", [OPENED, *short, FUNDED])
    assert types(accounts.decide(debit(), later)) == ["InsufficientFunds"]


def test_credit_once_and_refusals():
    cmd = msg(CreditAccount, account_id="a1", amount=50, currency="EUR", reason="refund",
              credit_id="r1", payment_id="pay1")
    out = run(accounts, "a1", [OPENED], cmd)
    assert out[0].new_balance == 50 and out[0].payment_id == "pay1"
    assert types(run(accounts, "a1", [], cmd)) == ["CreditRefused"]


def test_freeze_unfreeze_and_rejections():
    assert types(run(accounts, "a1", [OPENED], msg(FreezeAccount, account_id="a1",
                                                   reason="x"))) == ["AccountFrozen"]
    assert types(run(accounts, "a1", [OPENED], msg(UnfreezeAccount, account_id="a1"))) == [
        "AccountUnfrozen"]
    assert types(run(accounts, "a1", [], msg(FreezeAccount, account_id="a1", reason="x"))) == [
        "AccountRejected"]
    assert types(run(accounts, "a1", [], msg(UnfreezeAccount, account_id="a1"))) == [
        "AccountRejected"]


REGISTERED = msg(CustomerRegistered, customer_id="c1", name="Ada", email="ada@example.org")


def test_customer_commands_and_rejections():
    assert types(run(customers, "c1", [], msg(RegisterCustomer, customer_id="c1", name="Ada",
                                              email="ada@example.org"))) == [
        "CustomerRegistered"]
    assert types(run(customers, "c1", [REGISTERED], msg(
        RegisterCustomer, customer_id="c1", name="Bob", email="b@example.org"))) == [
        "CustomerRejected"]
    for cmd, ok in [(msg(UpdateShippingAddress, customer_id="c1", label="home",
                         address=ADDRESS), "ShippingAddressUpdated"),
                    (msg(SuspendCustomer, customer_id="c1", reason="abuse"),
                     "CustomerSuspended"),
                    (msg(ReactivateCustomer, customer_id="c1"), "CustomerReactivated")]:
        assert types(run(customers, "c1", [REGISTERED], cmd)) == [ok]
        assert types(run(customers, "c1", [], cmd)) == ["CustomerRejected"]


def test_order_history_is_folded_from_order_events_and_keeps_the_latest_orders():
    def created(order_id, at=T0):
        return msg(OrderCreated, order_id=order_id, customer_id="c1", account_id="a1", at=at,
                   items=(line(),), shipping_address=ADDRESS, payment_method="account",
                   policy=SagaPolicy(), step="reservation", deadline=T0)
    confirmed = msg(OrderConfirmed, order_id="o1", customer_id="c1", step="dispatch", at=later(1),
                    deadline=None, tracking_number="TRK", total_amount=500, currency="EUR")
    state = fold(customers, "c1", [REGISTERED])
    for message in (created("o1"), confirmed, created("o1")):  # a late repeat changes nothing
        events, state = customers.apply(message, state)
        assert events == []  # the order's events are the record; the customer appends none
    assert state.orders["o1"].status == "Preparing" and state.orders["o1"].total_amount == 500
    for n in range(2, RECENT + 2):
        state = customers.apply(created(f"o{n}", later(n)), state)[1]
    assert len(state.orders) == RECENT and "o1" not in state.orders
