from orderstream.catalog.decider import products
from orderstream.catalog.reservation import fan_out as react, reservations

from orderstream.contracts.catalog import *  # noqa: F403
from orderstream.contracts.ids import reservation_id_for

from builders import fold, line, msg, priced, run, strip, types

REGISTERED = msg(ProductRegistered, product_id="p1", sku="S1", name="Widget", price=500,
                 currency="EUR", on_hand=3)


def reserved(order_id="o1", qty=2, product_id="p1", price=500, currency="EUR"):
    return msg(ProductReserved, product_id=product_id, order_id=order_id, quantity=qty,
               unit_price=price, currency=currency)


def test_register_then_repeat_and_conflict():
    cmd = msg(RegisterProduct, product_id="p1", sku="S1", name="Widget", price=500,
              currency="EUR", on_hand=3)
    assert types(run(products, "p1", [], cmd)) == ["ProductRegistered"]
    other = msg(RegisterProduct, product_id="p1", sku="S2", name="W", price=1, currency="EUR",
                on_hand=3)
    assert types(run(products, "p1", [REGISTERED], other)) == ["ProductRejected"]


def test_update_stock_sets_free_units_and_rejects_unknown():
    out = run(products, "p1", [REGISTERED], msg(UpdateStock, product_id="p1", quantity=7))
    assert strip(out) == [("StockUpdated", {"product_id": "p1", "on_hand": 7, "delta": 4})]
    assert types(run(products, "p9", [], msg(UpdateStock, product_id="p9", quantity=1))) == [
        "ProductRejected"]


def test_check_stock_answers_free_units():
    out = run(products, "p1", [REGISTERED], msg(CheckStock, product_id="p1", order_id="o1",
                                                 quantity=5))
    assert out[0].available_qty == 3 and out[0].requested_qty == 5


def test_reserve_moves_units_at_the_catalog_price_and_a_repeat_reserves_once():
    cmd = msg(ReserveProduct, product_id="p1", order_id="o1", quantity=2)
    out = run(products, "p1", [REGISTERED], cmd)
    assert (out[0].unit_price, out[0].currency) == (500, "EUR")
    state = fold(products, "p1", [REGISTERED, *out])
    assert (state.on_hand, state.reserved) == (1, 2)
    assert strip(products.decide(cmd, state)) == strip(out)


def test_reserve_more_than_free_is_unavailable():
    out = run(products, "p1", [REGISTERED], msg(ReserveProduct, product_id="p1",
                                                 order_id="o1", quantity=4))
    assert strip(out) == [("ProductUnavailable", {"product_id": "p1", "order_id": "o1",
                                                  "requested_qty": 4, "available_qty": 3})]


def test_last_unit_race_exactly_one_wins():
    state = fold(products, "p1", [REGISTERED.model_copy(update={"on_hand": 1})])
    a = products.decide(msg(ReserveProduct, product_id="p1", order_id="a", quantity=1), state)
    state = products.fold(state, a)
    b = products.decide(msg(ReserveProduct, product_id="p1", order_id="b", quantity=1), state)
    assert types(a + b) == ["ProductReserved", "ProductUnavailable"]


def test_release_returns_units_and_release_first_refuses_late_reserve():
    out = run(products, "p1", [REGISTERED, reserved()], msg(ReleaseProduct, product_id="p1",
                                                            order_id="o1"))
    assert out[0].quantity == 2
    tomb = fold(products, "p1", [REGISTERED, msg(ProductReleased, product_id="p1",
                                                 order_id="o2", quantity=0)])
    assert products.decide(msg(ReserveProduct, product_id="p1", order_id="o2", quantity=1),
                           tomb) == []


def test_commit_ships_units_and_rejections():
    out = run(products, "p1", [REGISTERED, reserved()], msg(CommitProduct, product_id="p1",
                                                            order_id="o1"))
    state = fold(products, "p1", [REGISTERED, reserved(), *out])
    assert (state.on_hand, state.reserved, state.shipped) == (1, 0, 2)
    assert types(run(products, "p1", [REGISTERED], msg(CommitProduct, product_id="p1",
                                                       order_id="o1"))) == ["ProductRejected"]
    committed = [REGISTERED, reserved(), *out]
    assert types(run(products, "p1", committed, msg(ReleaseProduct, product_id="p1",
                                                    order_id="o1"))) == ["ProductRejected"]


ITEMS = (line("p1", 2), line("p2", 1))


def started():
    return msg(ReservationStarted, order_id="o1", reservation_id=reservation_id_for("o1"),
               items=ITEMS)


def test_reserve_items_fans_out_and_collects():
    out = run(reservations, "o1", [], msg(ReserveItems, order_id="o1", items=ITEMS))
    assert types(out) == ["ReservationStarted"]
    assert types(react(out[0])) == ["ReserveProduct", "ReserveProduct"]
    first = run(reservations, "o1", out, reserved())
    assert types(first) == ["LineReserved"]
    last = run(reservations, "o1", [*out, *first], reserved(qty=1, product_id="p2", price=300))
    assert types(last) == ["ItemsReserved"]  # the last line comes with the whole
    assert last[0].items == (priced("p1", 2, 500), priced("p2", 1, 300))
    assert (last[0].total_amount, last[0].currency) == (1300, "EUR")


def test_lines_priced_in_two_currencies_are_not_reserved():
    first = run(reservations, "o1", [started()], reserved())
    out = run(reservations, "o1", [started(), *first],
              reserved(qty=1, product_id="p2", price=300, currency="USD"))
    assert types(out) == ["ItemsUnavailable"] and "USD" in out[0].reason
    assert types(react(out[0])) == ["ReleaseProduct", "ReleaseProduct"]


def test_unavailable_line_releases_every_line():
    first = run(reservations, "o1", [started()], reserved())
    out = run(reservations, "o1", [started(), *first], msg(
        ProductUnavailable, product_id="p2", order_id="o1", requested_qty=1, available_qty=0))
    assert types(out) == ["ItemsUnavailable"] and out[0].stage == "reserve"
    assert types(react(out[0])) == ["ReleaseProduct", "ReleaseProduct"]


def test_check_availability_fan_out_and_shortage():
    out = run(reservations, "o1", [], msg(CheckAvailability, order_id="o1", items=ITEMS))
    assert types(react(out[0])) == ["CheckStock", "CheckStock"]
    short = run(reservations, "o1", out, msg(StockChecked, product_id="p1", order_id="o1",
                                             requested_qty=2, available_qty=1))
    assert types(short) == ["ItemsUnavailable"] and short[0].stage == "check"
    assert react(short[0]) == []
    one = msg(StockChecked, product_id="p1", order_id="o1", requested_qty=2, available_qty=2)
    two = msg(StockChecked, product_id="p2", order_id="o1", requested_qty=1, available_qty=5)
    first = run(reservations, "o1", out, one)
    assert types(run(reservations, "o1", [*out, *first], two)) == ["LineChecked",
                                                                   "ItemsAvailable"]


def test_release_and_commit_and_their_rejections():
    items_reserved = msg(ItemsReserved, order_id="o1", reservation_id="r", total_amount=1300,
                         currency="EUR", items=(priced("p1", 2, 500), priced("p2", 1, 300)))
    given = [started(), items_reserved]
    out = run(reservations, "o1", given, msg(ReleaseReservation, order_id="o1", reason="x"))
    assert types(out) == ["ReservationReleased"] and len(react(out[0])) == 2
    commit = run(reservations, "o1", given, msg(CommitReservation, order_id="o1"))
    assert types(commit) == ["ReservationCommitted"] and types(react(commit[0])) == [
        "CommitProduct", "CommitProduct"]
    assert types(run(reservations, "o1", [*given, *commit], msg(
        ReleaseReservation, order_id="o1", reason="x"))) == ["ReservationRejected"]
    assert types(run(reservations, "o1", [], msg(CommitReservation, order_id="o1"))) == [
        "ReservationRejected"]


def test_release_before_reserve_refuses_the_late_reserve():
    released = run(reservations, "o1", [], msg(ReleaseReservation, order_id="o1", reason="x"))
    late = run(reservations, "o1", released, msg(ReserveItems, order_id="o1", items=ITEMS))
    assert types(late) == ["ReservationReleased"] and react(late[0]) == []
