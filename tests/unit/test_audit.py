"""The audit's checks: given the events of a run (and its dead letters, the gateway's books, the
workers' rows), the violations it reports. No broker."""

from datetime import timedelta

from hypothesis import given, strategies as st

from orderstream.contracts.account import AccountCredited, AccountDebited, AccountOpened
from orderstream.contracts.catalog import (ProductCommitted, ProductRegistered, ProductReleased,
                                           ProductReserved, ProductRestocked, ProductUnavailable,
                                           RegisterProduct, StockUpdated)
from orderstream.contracts.account import CreditAccount, OpenAccount
from orderstream.contracts.ids import (compensation_refund_id, payment_id_for, return_refund_id,
                                       shipment_id_for)
from orderstream.contracts.order import (CancelOrder, CompensationConfirmed, CreateOrder,
                                         OrderCancelled, OrderConfirmed, OrderCreated,
                                         OrderProgressed, OrderReturned, OrderReturnRequested,
                                         OrderStatusUpdated, SagaPolicy)
from orderstream.contracts.payment import (PaymentRefunded, PaymentStarted, PaymentSucceeded,
                                           PaymentVoided)
from orderstream.contracts.shipment import ShipmentDispatched, UpdateShipmentStatus
from orderstream.local.audit import DeadLetter, Gateway, Where, audit
from orderstream.local.simulate import Ports, Simulation

from builders import ADDRESS, CARD_REF, T0, later, line, msg, priced

PAY = payment_id_for("o1")
NOW = later(3600)


def catalog(on_hand=10, price=500):
    return [msg(ProductRegistered, product_id="p1", sku="P1", name="pen", price=price,
                currency="EUR", on_hand=on_hand)]


def funded(balance=3000):
    return [msg(AccountOpened, account_id="a1", customer_id="c1", currency="EUR"),
            msg(AccountCredited, account_id="a1", credit_id="top", transaction_id="t0",
                amount=balance, new_balance=balance, reason="top-up")]


def created(method="account", quantity=2):
    return msg(OrderCreated, order_id="o1", customer_id="c1", account_id="a1",
               items=(line("p1", quantity),), shipping_address=ADDRESS, payment_method=method,
               card_ref=CARD_REF if method == "card" else None, policy=SagaPolicy(),
               step="reservation", deadline=later(10))


def progressed(completed, status, step, **refs):
    return msg(OrderProgressed, order_id="o1", customer_id="c1", completed=completed,
               status=status, step=step, deadline=later(20) if step else None, **refs)


def reserved(quantity=2, unit_price=500, total=None):
    return [msg(ProductReserved, product_id="p1", order_id="o1", quantity=quantity,
                unit_price=unit_price, currency="EUR"),
            progressed("reservation", "PaymentProcessing", "payment", reservation_id="r1",
                       lines=(priced("p1", quantity, unit_price),),
                       total_amount=total or quantity * unit_price, currency="EUR")]


def debited(amount=1000, balance=2000, txn="d1"):
    return msg(AccountDebited, account_id="a1", order_id="o1", payment_id=PAY,
               transaction_id=txn, amount=amount, new_balance=balance)


def paid(amount=1000, balance=2000, method="account", txn="d1"):
    charge = [debited(amount, balance, txn)] if method == "account" else []
    return [msg(PaymentStarted, payment_id=PAY, order_id="o1", account_id="a1", amount=amount,
                currency="EUR", payment_method=method, card_ref=CARD_REF if method == "card" else None),
            *charge,
            msg(PaymentSucceeded, payment_id=PAY, order_id="o1", transaction_id=txn,
                amount=amount, currency="EUR"),
            progressed("payment", "PaymentConfirmed", "shipment", payment_id=PAY,
                       transaction_id=txn)]


def confirmed(total=1000):
    return msg(OrderConfirmed, order_id="o1", customer_id="c1", step="dispatch", deadline=None,
               shipment_id=shipment_id_for("o1"), tracking_number="TRK1", total_amount=total,
               currency="EUR")


def happy(method="account"):
    return [*catalog(), *funded(), created(method), *reserved(), *paid(method=method),
            confirmed()]


def cancelled(*undo):
    return msg(OrderCancelled, order_id="o1", customer_id="c1", reason="cancelled: asked",
               undo=undo, deadline=later(30) if undo else None)


def compensated(what):
    return msg(CompensationConfirmed, order_id="o1", customer_id="c1", compensation=what)


def refund_credit(amount=1000, balance=3000):
    return [msg(AccountCredited, account_id="a1", credit_id=compensation_refund_id("o1"),
                payment_id=PAY, transaction_id="c1", amount=amount, new_balance=balance,
                reason="refund: cancelled"),
            msg(PaymentRefunded, payment_id=PAY, order_id="o1",
                refund_id=compensation_refund_id("o1"), amount=amount, refunded_total=amount)]


def released(quantity=2):
    return msg(ProductReleased, product_id="p1", order_id="o1", quantity=quantity)


def checks(events, **kw):
    return sorted({v.check for v in audit(events, now=NOW, **kw).violations})


def test_a_confirmed_order_paid_once_at_catalog_prices_passes_with_its_totals():
    report = audit(happy(), now=NOW, settled=True,
                   rows={"account/a1": {"balance": 2000},
                         "product/p1": {"on_hand": 8, "reserved": 2, "shipped": 0}})
    assert report.ok, report.text()
    assert report.totals["orders"] == {"accepted": 1, "Preparing": 1, "settled": 1}
    assert report.totals["money"]["account debits"] == 1000
    assert report.totals["stock"]["reserved"] == 2


def test_a_restated_outcome_books_nothing_twice():
    again = [debited(), reserved()[0], created(), confirmed()]
    assert audit([*happy(), *again], now=NOW, settled=True).ok


def test_a_second_debit_for_one_payment_is_caught():
    events = [*happy(), debited(amount=1000, balance=1000, txn="d2")]
    assert checks(events) == ["captured-twice", "charged-wrong-amount"]


def test_a_balance_that_disagrees_with_the_debits_is_caught():
    assert checks([*catalog(), *funded(), created(), *reserved(), *paid(balance=1500),
                   confirmed()]) == ["account-balance"]
    assert checks(happy(), rows={"account/a1": {"balance": 1999}}) == ["account-balance"]


def test_a_debit_beyond_the_balance_is_caught():
    events = [*catalog(), *funded(balance=500), created(), *reserved(), *paid(balance=0),
              confirmed()]
    assert "account-negative" in checks(events)


def test_a_cancelled_order_must_give_all_money_back():
    paid_then_cancelled = [*catalog(), *funded(), created(), *reserved(), *paid(),
                           cancelled("release_reservation", "refund_payment"), released(),
                           compensated("release_reservation"), compensated("refund_payment")]
    assert checks(paid_then_cancelled) == ["money-kept"]
    assert audit([*paid_then_cancelled, *refund_credit()], now=NOW, settled=True).ok


def test_a_cancelled_order_whose_goods_left_is_caught():
    """The cancel that raced the dispatch: money and stock back, and the goods gone too."""
    refunded = [*catalog(), *funded(), created(), *reserved(), *paid(), confirmed(),
                cancelled("release_reservation", "refund_payment"), released(),
                *refund_credit(), compensated("release_reservation"),
                compensated("refund_payment")]
    assert audit(refunded, now=NOW, settled=True).ok
    dispatched = msg(ShipmentDispatched, shipment_id=shipment_id_for("o1"), order_id="o1")
    assert checks([*refunded, dispatched]) == ["goods-kept"]


def test_a_confirmed_order_charged_other_than_its_catalog_total_is_caught():
    events = [*catalog(price=400), *funded(), created(), *reserved(unit_price=500), *paid(),
              confirmed()]
    assert checks(events) == ["charged-wrong-amount", "price"]


def test_stock_held_by_an_order_that_ended_without_shipping_is_caught():
    kept = [*catalog(), *funded(), created(), *reserved(), cancelled("release_reservation"),
            compensated("release_reservation")]
    assert checks(kept) == ["stock-held"]
    assert audit([*kept, released()], now=NOW).ok


def test_stock_reserved_beyond_what_is_on_hand_or_moved_out_of_turn_is_caught():
    assert "stock-oversold" in checks([*catalog(on_hand=1), *funded(), created(), *reserved(),
                                       *paid(), confirmed()])
    committed = msg(ProductCommitted, product_id="p1", order_id="o9", quantity=1)
    assert checks([*catalog(), committed]) == ["stock-transition"]


def test_stock_books_disagreeing_with_the_product_are_caught():
    wrong_delta = msg(StockUpdated, product_id="p1", on_hand=12, delta=5)
    assert checks([*catalog(), wrong_delta]) == ["stock-books"]
    short = msg(ProductUnavailable, product_id="p1", order_id="o2", requested_qty=3,
                available_qty=2)
    assert checks([*catalog(), short]) == ["stock-books"]
    row = {"on_hand": 9, "reserved": 2, "shipped": 0}
    assert checks(happy(), rows={"product/p1": row}) == ["stock-books"]


def test_a_shipped_then_returned_order_moves_its_stock_and_money_back():
    shipped = [*happy(), msg(OrderStatusUpdated, order_id="o1", customer_id="c1",
                             from_status="Preparing", status="Shipped", reason="carrier"),
               msg(ProductCommitted, product_id="p1", order_id="o1", quantity=2)]
    assert audit(shipped, now=NOW).ok
    assert checks(shipped[:-1]) == ["stock-held"]  # shipped, yet its stock still reserved
    returned = [*shipped, msg(OrderStatusUpdated, order_id="o1", customer_id="c1",
                              from_status="Shipped", status="Delivered", reason="carrier"),
                msg(OrderReturnRequested, order_id="o1", customer_id="c1", reason="no",
                    payment_id=PAY, refund_id=return_refund_id("o1"), deadline=later(40)),
                msg(ProductRestocked, product_id="p1", order_id="o1", quantity=2),
                msg(AccountCredited, account_id="a1", credit_id=return_refund_id("o1"),
                    payment_id=PAY, transaction_id="c2", amount=1000, new_balance=3000,
                    reason="refund: return"),
                msg(OrderReturned, order_id="o1", customer_id="c1",
                    refund_id=return_refund_id("o1"), amount=1000)]
    report = audit(returned, now=NOW, settled=True)
    assert report.ok, report.text()
    assert report.totals["stock"]["restocked"] == 2


def test_an_order_in_flight_is_stuck_only_past_its_deadline_and_retries():
    waiting = [*catalog(), created()]
    assert audit(waiting, now=later(5)).ok
    assert audit(waiting, now=later(5)).in_flight
    assert checks(waiting) == ["stuck"]
    assert [v.check for v in audit(waiting, now=later(5), settled=True).violations] == [
        "not-settled"]


def test_every_order_answered_202_must_be_created():
    assert checks(happy(), accepted={"o1", "o2"}) == ["accepted-not-created"]


def test_dead_letters_are_listed_and_only_injected_poison_is_expected():
    poison = Where("ns.order.commands", 1, 7)
    parked = DeadLetter(poison, "ValueError: message is not a JSON object", injected=True)
    report = audit(happy(), now=NOW, dead_letters=[parked, parked], poison={poison})
    assert report.ok and "parked 2x" in report.dead_letters[0]
    stray = DeadLetter(Where("ns.payment.commands", 0, 3), "KeyError: 'x'", injected=False)
    assert checks(happy(), dead_letters=[parked, stray], poison={poison}) == ["dead-letter"]
    assert checks(happy(), poison={poison}) == ["poison-not-parked"]


def test_card_money_is_held_against_the_gateways_books():
    card = happy(method="card")
    charged = Gateway(charged_by_payment={PAY: 1000}, refunded_by_payment={})
    assert audit(card, now=NOW, gateway=charged).ok
    twice = Gateway(charged_by_payment={PAY: 2000}, refunded_by_payment={})
    assert checks(card, gateway=twice) == ["gateway-disagrees"]
    voided = [*catalog(), *funded(), created("card"), *reserved(),
              cancelled("release_reservation", "void_payment"), released(),
              msg(PaymentVoided, payment_id=PAY, order_id="o1", reason="cancelled",
                  transaction_id="txn1", reversed_amount=1000),
              compensated("release_reservation"), compensated("void_payment")]
    assert audit(voided, now=NOW, gateway=Gateway({PAY: 1000}, {PAY: 1000})).ok
    assert checks(voided, gateway=Gateway({PAY: 1000}, {PAY: 0})) == ["gateway-disagrees"]
    label = Gateway({PAY: 1000}, {PAY: 1000}, {shipment_id_for("o1"): {"TRK1": "created"}})
    assert checks(voided, gateway=label) == ["label-kept"]


def mode_and_actions():
    order = st.sampled_from(["o1", "o2", "o3"])
    return st.sampled_from(["orchestration", "choreography"]), st.lists(st.one_of(
        st.tuples(st.just("order"), order, st.integers(1, 3), st.sampled_from(["account", "card"])),
        st.tuples(st.just("cancel"), order),
        st.tuples(st.just("track"), order, st.sampled_from(["dispatched", "delivered"])),
        st.tuples(st.just("topup"), st.integers(1, 3000))), max_size=20)


@given(*mode_and_actions(), st.lists(st.booleans(), min_size=32, max_size=32))
def test_the_books_of_any_run_of_the_real_deciders_balance(mode, actions, coin):
    """Every decider and both sagas, in memory, with redeliveries: the audit finds nothing."""
    flips = iter(coin * 1000)
    sim = Simulation(mode=mode, redeliver=lambda m: next(flips), ports=Ports())
    sim.send(msg(RegisterProduct, product_id="p1", sku="p1", name="p1", price=700,
                 currency="EUR", on_hand=4),
             msg(OpenAccount, account_id="a1", customer_id="c1", currency="EUR"),
             msg(CreditAccount, account_id="a1", amount=2000, currency="EUR", reason="t",
                 credit_id="t0")).run()
    for action in actions:
        match action:
            case ("order", order_id, quantity, method):
                sim.send(msg(CreateOrder, order_id=order_id, customer_id="c1", account_id="a1",
                             items=(line("p1", quantity),), shipping_address=ADDRESS,
                             payment_method=method, card_ref=CARD_REF if method == "card" else None,
                             policy=SagaPolicy(mode=mode)))
            case ("cancel", order_id):
                sim.send(msg(CancelOrder, order_id=order_id, reason="asked"))
            case ("track", order_id, status):
                sim.send(msg(UpdateShipmentStatus, shipment_id=shipment_id_for(order_id),
                             status=status))
            case ("topup", amount):
                sim.send(msg(CreditAccount, account_id="a1", amount=amount, currency="EUR",
                             reason="top-up", credit_id=f"t{amount}"))
        sim.run()
    report = audit(sim.events, now=T0 + timedelta(days=1), settled=True)
    assert report.ok, report.text()


def test_the_double_debit_build_debits_twice_and_the_audit_says_so(monkeypatch):
    from orderstream.account import decider, faults
    from orderstream.contracts.account import DebitAccount

    monkeypatch.setenv(faults.VARIABLE, "double_debit")
    (broken,) = faults.injected(decider.DECIDERS)
    state = broken.fold(broken.initial("a1"), funded())
    debit = msg(DebitAccount, account_id="a1", amount=1000, currency="EUR", order_id="o1",
                payment_id=PAY)
    events = broken.decide(debit, state)
    assert [(e.type, e.new_balance) for e in events] == [("AccountDebited", 2000),
                                                         ("AccountDebited", 1000)]
    assert broken.fold(state, events).balance == 1000
    assert broken.decide(debit, broken.fold(state, events))[1:] == []  # a repeat: once again
    run = [*catalog(), *funded(), created(), *reserved(), *paid()[:1], *events, *paid()[2:],
           confirmed()]
    assert checks(run) == ["captured-twice", "charged-wrong-amount"]
    monkeypatch.delenv(faults.VARIABLE)
    assert faults.injected(decider.DECIDERS) == decider.DECIDERS


def test_orders_flow_again_when_the_slowest_partition_answers_after_the_kill():
    from orderstream.local.recovery import _flow

    placed = {f"o{n}": float(n) for n in range(10)}           # one order a second
    settled = {o: t + 0.5 for o, t in placed.items()}         # half a second each...
    settled |= {"o5": 31.0, "o7": 31.5, "o9": 60.0}           # ...but on partition 1 after the kill
    flow = _flow(placed, settled, killed_at=5.0, victim="order-1",
                 partition_of=lambda o: int(o[1:]) % 2, steady=5.0)
    assert flow["per_partition"] == {0: 1.5, 1: 26.0} and flow["failover_seconds"] == 26.0
    assert flow["baseline_p50"] == 0.5


def test_chaos_faults_are_chosen_by_name():
    import pytest

    from orderstream.local.chaos import FAULTS, chosen_faults

    assert chosen_faults("all") == set(FAULTS) and chosen_faults("none") == set()
    assert chosen_faults("kill, broker") == {"kill", "broker"}
    with pytest.raises(SystemExit, match="unknown fault"):
        chosen_faults("kill,flood")
