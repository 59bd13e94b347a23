"""A product's holds (one per order ever placed) are stored one row each, not in the product's row:
the row stays the same size however many orders the product has seen, and a replayed command
still finds its order's hold. Likewise an account's ledger; and an order is woken only while it
waits, also when its deadline is known only from its row (after a rebalance or a restart). Tables are plain dicts here; the real ones are tested on Kafka."""

from datetime import timedelta

from orderstream.account.decider import RECENT, accounts
from orderstream.catalog.decider import products
from orderstream.contracts.account import CreditAccount, OpenAccount
from orderstream.contracts.catalog import RegisterProduct, ReleaseProduct, ReserveProduct
from orderstream.contracts.order import CreateOrder
from orderstream.order.decider import orders
from orderstream.runtime.store import SEEN, SEP, AggregateStore

from builders import ADDRESS, T0, line, msg


class DictTables:
    def __init__(self):
        self.tables: dict[str, dict] = {}

    def Table(self, name: str, **_: object) -> dict:
        return self.tables.setdefault(name, {})


def run(store: AggregateStore, command) -> list:
    state, _ = store.load("pen", command)
    events = products.decide(command, state)
    if events:
        store.store("pen", products.fold(state, events))
    return events


def test_holds_live_in_rows_of_their_own_and_the_product_row_does_not_grow():
    app = DictTables()
    store = AggregateStore(app, products, partitions=4)
    run(store, msg(RegisterProduct, product_id="pen", sku="PEN", name="Pen", price=250,
                   currency="EUR", on_hand=1000))
    run(store, msg(ReserveProduct, product_id="pen", order_id="o1", quantity=1))
    row_size = len(app.tables["products"]["pen"])  # 142 bytes
    for n in range(2, 200):
        run(store, msg(ReserveProduct, product_id="pen", order_id=f"o{n}", quantity=1))

    assert len(app.tables["products"]["pen"]) <= row_size + 4  # wider counts, no holds
    holds = [key for key in app.tables["products"] if key.startswith(f"pen{SEP}")]
    assert len(holds) == 199 and f"pen{SEP}o42" in holds
    product = store.get("pen")
    assert (product.on_hand, product.reserved, product.holds) == (801, 199, {})


def test_a_replayed_reserve_finds_its_hold_and_reserves_nothing_more():
    store = AggregateStore(DictTables(), products, partitions=4)
    run(store, msg(RegisterProduct, product_id="pen", sku="PEN", name="Pen", price=250,
                   currency="EUR", on_hand=5))
    reserve = msg(ReserveProduct, product_id="pen", order_id="o1", quantity=2)
    run(store, reserve)
    run(store, msg(ReserveProduct, product_id="pen", order_id="o2", quantity=1))
    run(store, msg(ReleaseProduct, product_id="pen", order_id="o1"))

    replayed = run(store, reserve)
    assert [e.type for e in replayed] == ["ProductReserved"]  # the original answer, no new hold
    assert store.load("pen", reserve)[0].holds["o1"].status == "released"
    product = store.get("pen")
    assert (product.on_hand, product.reserved) == (4, 1)


def test_a_row_from_before_entries_moved_out_keeps_its_holds():
    app = DictTables()
    store = AggregateStore(app, products, partitions=4)
    old = products.fold(products.initial("pen"), products.decide(
        msg(RegisterProduct, product_id="pen", sku="PEN", name="Pen", price=250, currency="EUR",
            on_hand=5), products.initial("pen")))
    old = products.fold(old, products.decide(msg(ReserveProduct, product_id="pen", order_id="o1",
                                                 quantity=2), old))
    app.tables["products"]["pen"] = old.model_dump_json().encode()  # holds inside the row

    run(store, msg(ReserveProduct, product_id="pen", order_id="o2", quantity=1))
    assert set(app.tables["products"]) == {"pen", f"pen{SEP}o1", f"pen{SEP}o2"}
    assert store.load("pen", msg(ReleaseProduct, product_id="pen", order_id="o1"))[0].holds["o1"].quantity == 2


def test_an_order_is_woken_only_while_a_step_has_a_deadline():
    app = DictTables()
    store = AggregateStore(app, orders, partitions=4)

    def run_order(command):
        state, _ = store.load("o1", command)
        store.store("o1", orders.fold(state, orders.decide(command, state)))

    run_order(msg(CreateOrder, order_id="o1", customer_id="c1", account_id="a1",
                  items=(line(),), shipping_address=ADDRESS))
    waiting = store.get("o1")
    assert waiting.deadline is not None and store.due(T0) == []
    assert store.due(waiting.deadline + timedelta(seconds=1)) == ["o1"]

    store.store("o1", waiting.model_copy(update={"step": None, "deadline": None}))
    assert store.due(waiting.deadline + timedelta(days=1)) == []
    assert set(app.tables) == {"orders"}  # no table of timers: nothing written to wait


def test_a_replica_that_takes_a_partition_over_wakes_its_waiting_orders_from_the_rows():
    """Replica a holds the orders while they wait; the partition moves to b, which knows them
    only from the rows it restored; then back to a, where one waits again, the other not."""
    app = DictTables()  # the tables both replicas restore from the changelog
    a, b = AggregateStore(app, orders, partitions=4), AggregateStore(app, orders, partitions=4)
    for key in ("o1", "o2", "o3"):
        a.store(key, orders.fold(orders.initial(key), orders.decide(
            msg(CreateOrder, order_id=key, customer_id="c1", account_id="a1", items=(line(),),
                shipping_address=ADDRESS, message_id=key), orders.initial(key))))
    waiting = a.get("o1")
    a.store("o3", a.get("o3").model_copy(update={"step": None, "deadline": None}))
    assert sorted(a.due(waiting.deadline)) == ["o1", "o2"]

    a.forget(), b.forget()  # rebalance: to b, which never saw them waiting
    assert sorted(b.due(waiting.deadline)) == ["o1", "o2"] and b.due(T0) == []
    b.store("o1", waiting.model_copy(update={"step": None, "deadline": None}))
    a.forget(), b.forget()  # and back to a
    later = waiting.deadline + timedelta(minutes=5)
    a.store("o2", a.get("o2").model_copy(update={"deadline": later}))
    assert a.due(later) == ["o2"]


def test_an_account_shows_its_recent_transactions_yet_answers_any_repeat_as_before():
    app = DictTables()
    store = AggregateStore(app, accounts, partitions=4)

    def run_account(command):
        state, _ = store.load("a1", command)
        events = accounts.decide(command, state)
        store.store("a1", accounts.fold(state, events))
        return events

    run_account(msg(OpenAccount, account_id="a1", customer_id="c1", currency="EUR"))
    first = msg(CreditAccount, account_id="a1", amount=10, currency="EUR", reason="top-up", credit_id="k0")
    original = run_account(first)
    for n in range(1, RECENT + 20):
        run_account(msg(CreditAccount, account_id="a1", amount=10, currency="EUR", reason="top-up",
                        credit_id=f"k{n}"))
    account = store.get("a1")
    assert (account.balance, len(account.transactions), account.ledger) == (10 * (RECENT + 20), RECENT, {})
    assert len([key for key in app.tables["accounts"] if key.startswith(f"a1{SEP}")]) == RECENT + 20

    again = run_account(first)  # long out of the recent list: the ledger still knows it
    assert [(e.transaction_id, e.new_balance) for e in again] == [(original[0].transaction_id, 10)]
    assert store.get("a1").balance == 10 * (RECENT + 20)


def test_a_row_remembers_the_last_message_ids_it_applied_with_their_offsets():
    store = AggregateStore(DictTables(), products, partitions=4)
    register = msg(RegisterProduct, product_id="pen", sku="PEN", name="Pen", price=250,
                   currency="EUR", on_hand=5)
    state = products.fold(products.initial("pen"), products.decide(register, products.initial("pen")))
    store.store("pen", state, {f"m{n}": n for n in range(40)})
    loaded, seen = store.load("pen", register)
    assert loaded == state and store.get("pen") == state
    assert seen == {f"m{n}": n for n in range(40 - SEEN, 40)}  # only the latest SEEN


def test_a_step_whose_entries_were_written_but_not_its_row_is_decided_again_on_the_old_state():
    """A crash between a step's entries and its row (written after them, in one changelog
    partition): the redelivered step must not take the new hold for one already counted."""
    app = DictTables()
    store = AggregateStore(app, products, partitions=4)

    def step(command, offset):
        state, seen = store.load("pen", command)
        events = products.decide(command, state)
        store.store("pen", products.fold(state, events), {**seen, command.message_id: offset})
        return events

    step(msg(RegisterProduct, product_id="pen", sku="PEN", name="Pen", price=250, currency="EUR",
             on_hand=5), 0)
    reserve = msg(ReserveProduct, product_id="pen", order_id="o1", quantity=2)
    old_row = app.tables["products"]["pen"]
    step(reserve, 1)
    app.tables["products"]["pen"] = old_row  # the row's write was lost; the hold's was not

    assert [e.type for e in step(reserve, 1)] == ["ProductReserved"]  # redelivered, decided again
    product = store.get("pen")
    assert (product.on_hand, product.reserved) == (3, 2)  # counted once, not zero times
    release = msg(ReleaseProduct, product_id="pen", order_id="o1")
    old_row = app.tables["products"]["pen"]
    step(release, 2)
    app.tables["products"]["pen"] = old_row  # again, for an entry that had a value before
    step(release, 2)
    assert (store.get("pen").on_hand, store.get("pen").reserved) == (5, 0)
    assert store.load("pen", release)[0].holds["o1"].status == "released"
