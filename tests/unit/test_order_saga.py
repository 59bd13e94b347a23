import pytest

from orderstream.contracts.account import CreditAccount, FreezeAccount, OpenAccount
from orderstream.contracts.catalog import RegisterProduct, ReserveItems
from orderstream.contracts.ids import payment_id_for, shipment_id_for
from orderstream.contracts.order import *  # noqa: F403
from orderstream.contracts.payment import ProcessPayment
from orderstream.contracts.shipment import ShipmentCancelled, ShipmentRejected, UpdateShipmentStatus
from orderstream.local.audit import audit
from orderstream.order.decider import orders
from orderstream.saga.choreography import choreograph
from orderstream.local.simulate import Ports, Simulation
from orderstream.order.orchestration import orchestrate

from builders import ADDRESS, CARD_REF, T0, fold, later, line, msg, run, types

MODES = ["orchestration", "choreography"]
CARD = dict(payment_method="card", card_ref=CARD_REF)


def world(mode, stock=5, funds=10_000, **kw):
    sim = Simulation(mode=mode, **kw)
    return sim.send(
        msg(RegisterProduct, product_id="p1", sku="S1", name="W", price=500, currency="EUR",
            on_hand=stock),
        msg(OpenAccount, account_id="a1", customer_id="c1", currency="EUR"),
        msg(CreditAccount, account_id="a1", amount=funds, currency="EUR", reason="top-up",
            credit_id="t1")).run()


def place(sim, order_id="o1", qty=2, **kw):
    return sim.send(msg(CreateOrder, order_id=order_id, customer_id="c1", account_id="a1",
                        items=(line("p1", qty),), shipping_address=ADDRESS,
                        policy=SagaPolicy(mode=sim.mode), **kw)).run()


def outcome(sim, order_id="o1"):
    o = sim.state("orders", order_id)
    p = sim.state("products", "p1")
    a = sim.state("accounts", "a1")
    return o.status, o.undo, (p.on_hand, p.reserved, p.shipped), a.balance


@pytest.mark.parametrize("mode", MODES)
def test_happy_path_to_delivery_and_return(mode):
    sim = place(world(mode))
    assert outcome(sim) == ("Preparing", (), (3, 2, 0), 9000)
    track = lambda s: msg(UpdateShipmentStatus, shipment_id=shipment_id_for("o1"), status=s)
    sim.send(track("dispatched")).run()
    assert outcome(sim) == ("Shipped", (), (3, 0, 2), 9000)
    sim.send(track("delivered")).run()
    assert outcome(sim)[0] == "Delivered"
    sim.send(msg(RequestReturn, order_id="o1", reason="broken")).run()
    assert outcome(sim) == ("Returned", (), (5, 0, 0), 10_000)  # refunded and back on the shelf
    assert sim.state("customers", "c1").orders["o1"].status == "Returned"


SCENARIOS = {
    "out of stock": dict(stock=1),
    "insufficient funds": dict(funds=100),
    "card declined": dict(ports=Ports(gateway_approves=False)),
    "carrier refuses": dict(ports=Ports(carrier_accepts=False)),
}
EXPECTED = {
    "out of stock": ("OutOfStock", (), (1, 0, 0), 10_000),
    "insufficient funds": ("Cancelled", (), (5, 0, 0), 100),
    "card declined": ("Cancelled", (), (5, 0, 0), 10_000),
    "carrier refuses": ("Cancelled", (), (5, 0, 0), 10_000),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_both_modes_reach_the_same_outcome(name):
    card = CARD if "card" in name else {}
    results = [outcome(place(world(mode, **SCENARIOS[name]), **card)) for mode in MODES]
    assert results[0] == results[1] == EXPECTED[name]


@pytest.mark.parametrize("mode", MODES)
def test_frozen_account_cancels_and_releases(mode):
    sim = world(mode)
    sim.send(msg(FreezeAccount, account_id="a1", reason="fraud")).run()
    status, undo, stock, balance = outcome(place(sim))
    assert (status, undo, stock, balance) == ("Cancelled", (), (5, 0, 0), 10_000)


@pytest.mark.parametrize("mode", MODES)
def test_cancel_racing_a_payment_in_flight_refunds_it(mode):
    sim = world(mode, hold=lambda m: isinstance(m, (ProcessPayment,)) or
                m.type == "ChargePayment")
    place(sim)
    sim.send(msg(CancelOrder, order_id="o1", reason="changed my mind")).run()
    sim.release_held()
    assert outcome(sim) == ("Cancelled", (), (5, 0, 0), 10_000)
    assert no_label(sim)


@pytest.mark.parametrize("mode", MODES)
def test_cancel_racing_a_reservation_in_flight_releases_it(mode):
    sim = world(mode, hold=lambda m: isinstance(m, ReserveItems))
    place(sim)
    sim.send(msg(CancelOrder, order_id="o1", reason="changed my mind")).run()
    sim.release_held()
    assert outcome(sim) == ("Cancelled", (), (5, 0, 0), 10_000)
    assert no_label(sim)


def no_label(sim, order_id="o1"):
    shipment = sim.state("shipments", shipment_id_for(order_id))
    return shipment is None or shipment.status == "cancelled"


def track(status, order_id="o1"):
    return msg(UpdateShipmentStatus, shipment_id=shipment_id_for(order_id), status=status)


def books_balance(sim):
    report = audit(sim.events, now=later(86_400), settled=True)
    assert report.ok, report.text()


RACES = {  # what is still in flight when the carrier dispatches the goods
    "the cancel": "CancelShipment",
    "the carrier's answer to the cancel": "RecordCarrierCancelResult",
}


@pytest.mark.parametrize("race", RACES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", ["account", "card"])
def test_a_cancel_racing_the_dispatch_settles_charged_iff_the_goods_left(mode, race, method):
    card = CARD if method == "card" else {}
    ports = Ports()
    sim = place(world(mode, ports=ports, hold=lambda m: m.type == RACES[race]), **card)
    sim.send(msg(CancelOrder, order_id="o1", reason="changed my mind")).run()
    paid = 9000 if method == "account" else 10_000
    assert outcome(sim) == ("Preparing", ("cancel_shipment",), (3, 2, 0), paid)  # nothing back yet
    sim.send(track("dispatched")).run()
    sim.release_held()
    shipped = sim.state("shipments", shipment_id_for("o1")).status == "dispatched"
    assert shipped == (race == "the cancel")  # the shipment takes whichever came first
    expected = ("Shipped", (), (3, 0, 2), paid) if shipped else ("Cancelled", (), (5, 0, 0), 10_000)
    assert outcome(sim) == expected
    assert ports.kept(payment_id_for("o1")) == (1000 if shipped and card else 0)
    books_balance(sim)


@pytest.mark.parametrize("mode", MODES)
def test_a_cancel_refused_because_the_goods_left_lets_the_order_ship_deliver_and_return(mode):
    sim = place(world(mode, hold=lambda m: m.type == "CancelShipment"))
    sim.send(msg(CancelOrder, order_id="o1", reason="changed my mind"), track("dispatched")).run()
    sim.release_held()
    order = sim.state("orders", "o1")
    assert order.compensation_error == "cannot cancel: shipment is dispatched"
    assert not {"RefundPayment", "ReleaseReservation"} & set(types(sim.events))
    sim.send(track("delivered")).run()
    assert outcome(sim) == ("Delivered", (), (3, 0, 2), 9000)
    sim.send(msg(RequestReturn, order_id="o1", reason="changed my mind")).run()
    assert outcome(sim) == ("Returned", (), (5, 0, 0), 10_000)
    books_balance(sim)


def test_a_shipment_scheduled_by_a_late_charge_and_dispatched_keeps_no_goods_in_choreography():
    """README, bug 6: the cancel asks the shipment first, which stays cancelled and refuses the
    schedule the late charge causes; the charge is given back."""
    sim = place(world("choreography", hold=lambda m: m.type in ("ChargePayment", "CancelPayment")))
    sim.send(msg(CancelOrder, order_id="o1", reason="x")).run()
    held, sim.held = sim.held, []
    sim.hold = lambda m: m.type in ("CancelShipment", "CancelPayment")  # the charge goes first
    sim.send(*held).run()
    sim.send(track("dispatched")).run()
    sim.release_held()
    books_balance(sim)  # goods-kept: Cancelled, refunded, yet dispatched


def test_a_cancel_once_labelled_cancels_the_shipment_first_then_gives_back():
    sim = place(world("orchestration", hold=lambda m: m.type == "CancelShipment"))
    sim.send(msg(CancelOrder, order_id="o1", reason="x")).run()
    state = sim.state("orders", "o1")
    assert (state.status, state.undo, state.reason) == ("Preparing", ("cancel_shipment",),
                                                          "cancelled: x")
    ids = dict(shipment_id=shipment_id_for("o1"), order_id="o1")
    done = orders.decide(msg(ShipmentCancelled, **ids, reason="cancelled: x"), state)
    assert types(done) == ["CompensationConfirmed", "OrderCancelled"]
    assert done[1].undo == ("release_reservation", "refund_payment")
    tracking = msg(ShipmentRejected, **ids, command="UpdateShipmentStatus", reason="cancelling")
    assert orders.decide(tracking, state) == []  # a refused dispatch says nothing of the cancel
    refused = msg(ShipmentRejected, **ids, command="CancelShipment",
                  reason="cannot cancel: shipment is dispatched")
    late = orders.decide(refused, state)
    assert [(e.type, getattr(e, "status", None)) for e in late] == [
        ("CompensationFailed", None), ("OrderProgressed", "Shipped")]
    after = orders.fold(state, late)
    assert (after.status, after.undo, after.step, after.deadline) == ("Shipped", (), "delivery",
                                                                      None)


def test_a_refused_shipment_cancel_is_final_so_a_cancelled_order_still_settles():
    sim = place(world("orchestration"))
    given = msg(OrderCancelled, order_id="o1", customer_id="c1", reason="cancelled: before",
                undo=("cancel_shipment",), deadline=later(10))  # as an older build cancelled
    state = orders.fold(sim.state("orders", "o1"), [given])
    refused = msg(ShipmentRejected, shipment_id=shipment_id_for("o1"), order_id="o1",
                  command="CancelShipment", reason="cannot cancel: shipment is dispatched")
    after = orders.fold(state, orders.decide(refused, state))
    assert (after.status, after.undo, after.deadline) == ("Cancelled", (), None)
    assert after.compensation_error == "cannot cancel: shipment is dispatched"


@pytest.mark.parametrize("mode", MODES)
def test_timeouts_retry_then_give_up_and_compensate(mode):
    sim = world(mode, hold=lambda m: m.type in ("ProcessPayment", "ChargePayment"))
    place(sim)
    o = sim.state("orders", "o1")
    assert o.step == "payment" and o.attempt == 1
    sim.expire("o1", o.deadline)
    assert sim.state("orders", "o1").attempt == 2
    for _ in range(3):
        sim.expire("o1", sim.state("orders", "o1").deadline)
    sim.release_held()
    o = sim.state("orders", "o1")
    assert o.status == "Cancelled" and "payment step timed out after 4 attempts" in o.reason
    assert outcome(sim)[1:] == ((), (5, 0, 0), 10_000)


def test_stale_deadline_is_ignored():
    state = fold(orders, "o1", [])
    assert orders.decide(msg(StepDeadlinePassed, order_id="o1", step="payment", attempt=1,
                             now=T0), state) == []


def test_order_rejections():
    created = msg(OrderCreated, order_id="o1", customer_id="c1", account_id="a1",
                  items=(line(),), shipping_address=ADDRESS,
                  payment_method="account", policy=SagaPolicy(), step="reservation",
                  deadline=later(10))
    for cmd, given in [(msg(CancelOrder, order_id="o1", reason="x"), []),
                       (msg(RequestReturn, order_id="o1", reason="x"), [created]),
                       (msg(UpdateOrderStatus, order_id="o1", status="Delivered", reason="x"),
                        [created]),
                       (msg(CreateOrder, order_id="o1", customer_id="c2", account_id="a1",
                            items=(line(),), shipping_address=ADDRESS),
                        [created])]:
        out = run(orders, cmd.key, given, cmd)
        assert types(out) == ["OrderTransitionRejected"] and out[0].reason


def test_terminal_order_cannot_be_cancelled():
    sim = place(world("orchestration", stock=0))
    state = sim.state("orders", "o1")
    out = orders.decide(msg(CancelOrder, order_id="o1", reason="x"), state)
    assert out[0].from_status == "OutOfStock" and out[0].attempted == "Cancelled"


def test_manual_status_update_commits_stock():
    sim = place(world("orchestration"))
    sim.send(msg(UpdateOrderStatus, order_id="o1", status="Shipped", reason="hand-delivered"))
    sim.run()
    assert outcome(sim) == ("Shipped", (), (3, 0, 2), 9000)


def test_saga_functions_event_in_commands_out():
    created = msg(OrderCreated, order_id="o1", customer_id="c1", account_id="a1",
                  items=(line(),), shipping_address=ADDRESS,
                  payment_method="account", policy=SagaPolicy(), step="reservation",
                  deadline=later(10))
    state = fold(orders, "o1", [created])
    assert types(orchestrate(created, state)) == ["ReserveItems"]
    assert types(choreograph(created)) == ["PreparePayment", "PrepareShipment", "ReserveItems"]
    cancel = msg(OrderCancelled, order_id="o1", customer_id="c1", reason="x",
                 undo=("release_reservation", "void_payment", "cancel_shipment"),
                 deadline=later(5))
    assert types(choreograph(cancel)) == types(orchestrate(cancel, state)) == [
        "ReleaseReservation", "CancelPayment", "CancelShipment"]
    assert choreograph(cancel)[1].payment_id == payment_id_for("o1")


@pytest.mark.parametrize("mode", MODES)
def test_a_charge_caused_after_a_pending_cancel_whose_outcome_was_not_seen_is_given_back(mode):
    """README, bug 13 (10,000-order choreography chaos run): cancelled while the reservation was
    in flight, the order undid the reservation only; the reservation then landed and caused a
    charge, whose answer was lost (gateway slow, circuit open). Nobody asked again: the gateway
    kept the money of a Cancelled order."""
    ports = Ports(unseen=lambda event: event.type == "GatewayChargeRequested")
    sim = world(mode, ports=ports, hold_replies=lambda m: m.type == "ItemsReserved")  # heard late
    place(sim, **CARD)
    sim.send(msg(CancelOrder, order_id="o1", reason="changed my mind")).run()
    sim.release_held()
    assert outcome(sim) == ("Cancelled", (), (5, 0, 0), 10_000)
    assert ports.kept(payment_id_for("o1")) == 0 and no_label(sim)
    books_balance(sim)


def test_a_payment_reply_that_overtakes_the_reservation_reply_still_ships_in_choreography():
    """CI (test_saga.py, choreography; README, bug 14): the catalog's ItemsReserved reached
    order.commands after the PaymentSucceeded it had caused; the order, still Pending, refunded
    the payment and released the stock of an order that was going well. Now the overtaking
    replies are let go, and the payment step's retry hears the payment again."""
    sim = world("choreography", hold_replies=lambda m: m.type == "ItemsReserved")
    place(sim)
    assert outcome(sim) == ("Pending", (), (3, 2, 0), 9000)  # charged; the order has not heard
    sim.release_held()
    order = sim.state("orders", "o1")
    assert (order.status, order.step) == ("PaymentProcessing", "payment")
    sim.expire("o1", order.deadline)
    assert outcome(sim) == ("Preparing", (), (3, 2, 0), 9000)
    books_balance(sim)
