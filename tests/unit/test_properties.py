"""Invariants over random command sequences, with duplicates and redeliveries."""

from hypothesis import HealthCheck, given, settings, strategies as st

from orderstream.account.decider import RECENT, Transaction
from orderstream.contracts.account import CreditAccount, DebitAccount, OpenAccount
from orderstream.contracts.catalog import RegisterProduct, UpdateStock
from orderstream.contracts.ids import shipment_id_for
from orderstream.contracts.order import CancelOrder, CreateOrder, RequestReturn, SagaPolicy
from orderstream.contracts.shipment import UpdateShipmentStatus
from orderstream.local.simulate import Ports, Simulation
from orderstream.order.flow import TERMINAL

from builders import ADDRESS, line, msg

FAST = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
ALLOWED_AFTER_TERMINAL = {("Delivered", "ReturnRequested"), ("ReturnRequested", "Returned")}


def actions():
    order = st.sampled_from(["o1", "o2", "o3"])
    return st.lists(st.one_of(
        st.tuples(st.just("order"), order, st.integers(1, 3), st.sampled_from(["p1", "p2"])),
        st.tuples(st.just("cancel"), order),
        st.tuples(st.just("track"), order, st.sampled_from(["dispatched", "delivered"])),
        st.tuples(st.just("return"), order),
        st.tuples(st.just("stock"), st.sampled_from(["p1", "p2"]), st.integers(0, 4)),
        st.tuples(st.just("topup"), st.integers(1, 3000)),
    ), max_size=25)


def command(action, mode):
    match action:
        case ("order", order_id, qty, product):
            return msg(CreateOrder, order_id=order_id, customer_id="c1", account_id="a1",
                       items=(line(product, qty),), shipping_address=ADDRESS,
                       policy=SagaPolicy(mode=mode))
        case ("cancel", order_id):
            return msg(CancelOrder, order_id=order_id, reason="changed mind")
        case ("track", order_id, status):
            return msg(UpdateShipmentStatus, shipment_id=shipment_id_for(order_id),
                       status=status)
        case ("return", order_id):
            return msg(RequestReturn, order_id=order_id, reason="no")
        case ("stock", product, quantity):
            return msg(UpdateStock, product_id=product, quantity=quantity)
        case ("topup", amount):
            return msg(CreditAccount, account_id="a1", amount=amount, currency="EUR",
                       reason="top-up", credit_id=f"t{amount}")


@FAST
@given(actions(), st.sampled_from(["orchestration", "choreography"]),
       st.lists(st.booleans(), min_size=64, max_size=64), st.booleans())
def test_invariants_hold_under_redelivery(acts, mode, coin, gateway_ok):
    flips = iter(coin * 1000)
    play(acts, Simulation(mode=mode, redeliver=lambda m: next(flips),
                          ports=Ports(carrier_accepts=gateway_ok)))


@FAST
@given(actions(), st.sampled_from(["orchestration", "choreography"]),
       st.lists(st.booleans(), min_size=64, max_size=64), st.booleans())
def test_a_step_whose_row_a_crash_lost_is_decided_again_and_changes_nothing(acts, mode, coin, gateway_ok):
    """A worker killed after a step's events reached Kafka and before its row did (the runtime
    holds rows back until then: README, bug 15). The redelivered record is decided again on the
    row as it was and sends the same messages again: every consumer and the books take them
    once, and each row is what its aggregate's events (those of the second try) explain."""
    flips = iter(coin * 1000)
    play(acts, Simulation(mode=mode, lose=lambda m: next(flips),
                          ports=Ports(carrier_accepts=gateway_ok)))


def play(acts, sim):
    """Stock two products and fund an account, run the actions, check the invariants."""
    received = {"p1": 3, "p2": 1}
    sim.send(*[msg(RegisterProduct, product_id=p, sku=p, name=p, price=700, currency="EUR",
                   on_hand=n) for p, n in received.items()],
             msg(OpenAccount, account_id="a1", customer_id="c1", currency="EUR"),
             msg(CreditAccount, account_id="a1", amount=2000, currency="EUR", reason="t",
                 credit_id="t0")).run()
    for act in acts:
        sim.send(command(act, mode=sim.mode)).run()
        if act[0] == "stock":
            product = sim.state("products", act[1])
            received[act[1]] = product.on_hand + product.reserved + product.shipped
    check(sim, received)


def check(sim, received):
    for product_id, total in received.items():
        p = sim.state("products", product_id)
        assert min(p.on_hand, p.reserved, p.shipped) >= 0
        assert p.on_hand + p.reserved + p.shipped == total
    account = sim.state("accounts", "a1")
    booked = [t for t in account.ledger.values() if isinstance(t, Transaction)]
    assert account.transactions == tuple(booked[-RECENT:])
    credits = sum(t.amount for t in booked if t.kind == "credit")
    debits = sum(t.amount for t in booked if t.kind == "debit")
    assert account.balance >= 0 and account.balance == credits - debits
    for (name, key), state in sim.states.items():
        if name == "payments":
            refunded = sum(r.amount for r in state.refunds.values() if r.status != "failed")
            assert refunded <= state.captured and state.charges <= 1
        if name == "orders" and state.status:
            assert not state.undo or state.step == "compensation"
    statuses: dict[str, list[str]] = {}
    from orderstream.order.decider import orders
    folded: dict[str, object] = {}
    for name, key, event in sim.journal:
        if name == "orders":
            folded[key] = orders.evolve(folded.get(key) or orders.initial(key), event)
            seq = statuses.setdefault(key, [])
            status = folded[key].status
            if status and (not seq or seq[-1] != status):
                seq.append(status)
    for seq in statuses.values():
        for before, after in zip(seq, seq[1:]):
            assert before not in TERMINAL or (before, after) in ALLOWED_AFTER_TERMINAL, seq
    replay(sim)


def replay(sim):
    """Event sourcing holds: folding each aggregate's own events gives its stored state."""
    from orderstream.local.simulate import CONTEXTS
    deciders = {d.name: d for module in CONTEXTS.values() for d in module.DECIDERS}
    streams: dict[tuple[str, str], list] = {}
    for name, key, event in sim.journal:
        streams.setdefault((name, key), []).append(event)
    for (name, key), state in sim.states.items():
        decider = deciders[name]
        assert decider.fold(decider.initial(key), streams.get((name, key), [])) == state


@FAST
@given(st.lists(st.tuples(st.sampled_from(["pay1", "pay2", "pay3"]), st.integers(1, 900)),
                max_size=30))
def test_balance_never_negative_and_debits_once(debits):
    from orderstream.account.decider import accounts
    state = accounts.initial("a1")
    state = accounts.fold(state, accounts.decide(
        msg(OpenAccount, account_id="a1", customer_id="c", currency="EUR"), state))
    state = accounts.fold(state, accounts.decide(msg(CreditAccount, account_id="a1",
                                                     amount=1000, currency="EUR", reason="x",
                                                     credit_id="c"), state))
    for payment_id, amount in debits:
        cmd = msg(DebitAccount, account_id="a1", amount=amount, currency="EUR",
                  order_id="o", payment_id=payment_id)
        state = accounts.fold(state, accounts.decide(cmd, state))
        assert state.balance >= 0
    debited = [t for t in state.transactions if t.kind == "debit"]
    assert len({t.reference for t in debited}) == len(debited)
    assert state.balance == 1000 - sum(t.amount for t in debited)
