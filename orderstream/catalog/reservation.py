"""The reservation of one order (keyed by order id): all lines held, or none.

It fans each request out to the products (see `react`) and collects their answers. On the
first product that cannot serve its line, it reports ItemsUnavailable and releases every line,
including the ones whose answer is still in flight (the product remembers the release).
"""

from typing import Literal, assert_never

from orderstream.contracts.catalog import (
    AvailabilityCheckStarted, CheckAvailability, CheckStock, CommitProduct, CommitReservation,
    ItemsAvailable, ItemsReserved, ItemsRestocked, ItemsUnavailable, LineChecked, LineReserved,
    ProductReserved, ProductUnavailable, ReleaseProduct, ReleaseReservation,
    ReservationCommitted, ReservationRejected, ReservationReleased, ReservationStarted,
    ReserveItems, ReserveProduct, RestockItems, RestockProduct, StockChecked)
from orderstream.contracts.common import Item, OrderLine, Value, total_of
from orderstream.contracts.envelope import Message, derive
from orderstream.contracts.ids import reservation_id_for
from orderstream.domain import Decider


class Shortage(Value):
    product_id: str
    requested_qty: int
    available_qty: int
    stage: Literal["check", "reserve"]
    reason: str | None = None


class Reservation(Value):
    order_id: str
    lines: tuple[Item, ...] = ()
    check: Literal["none", "checking", "available", "unavailable"] = "none"
    checked: tuple[str, ...] = ()
    status: Literal["none", "reserving", "reserved", "unavailable", "released",
                    "committed", "restocked"] = "none"
    held: tuple[OrderLine, ...] = ()          # the lines held so far, at the catalog's prices
    currency: str = ""
    shortage: Shortage | None = None
    release_reason: str = ""

    @property
    def reservation_id(self) -> str:
        return reservation_id_for(self.order_id)

    @property
    def priced(self) -> tuple[OrderLine, ...]:
        """Every line at its reserved price, in the order's own order."""
        held = {line.product_id: line for line in self.held}
        return tuple(held[line.product_id] for line in self.lines if line.product_id in held)


ReservationCommand = (CheckAvailability | ReserveItems | ReleaseReservation | CommitReservation
                      | RestockItems | StockChecked | ProductReserved | ProductUnavailable)


def decide(cmd: ReservationCommand, state: Reservation) -> list[Message]:
    match cmd:
        case CheckAvailability():
            return _check(cmd, state)
        case StockChecked():
            return _stock_checked(cmd, state)
        case ReserveItems():
            return _reserve(cmd, state)
        case ProductReserved():
            return _product_reserved(cmd, state)
        case ProductUnavailable():
            if state.status == "reserving":
                return [_unavailable(cmd, state, Shortage(
                    product_id=cmd.product_id, requested_qty=cmd.requested_qty,
                    available_qty=cmd.available_qty, stage="reserve"))]
            return _outcome(cmd, state) if state.status == "unavailable" else []
        case ReleaseReservation():
            if state.status in ("committed", "restocked"):
                return [_rejected(cmd, "already committed: the goods have shipped")]
            reason = state.release_reason or cmd.reason
            return [derive(cmd, ReservationReleased, order_id=cmd.order_id,
                           reservation_id=state.reservation_id, items=state.lines,
                           reason=reason)]
        case CommitReservation():
            if state.status not in ("reserved", "committed"):
                return [_rejected(cmd, f"reservation is {state.status}, not reserved")]
            return [derive(cmd, ReservationCommitted, order_id=cmd.order_id,
                           reservation_id=state.reservation_id, items=state.lines)]
        case RestockItems():
            if state.status not in ("committed", "restocked"):
                return [_rejected(cmd, f"reservation is {state.status}: nothing shipped to restock")]
            return [derive(cmd, ItemsRestocked, order_id=cmd.order_id,
                           reservation_id=state.reservation_id, items=state.lines,
                           reason=cmd.reason)]
        case _:
            assert_never(cmd)


def _check(cmd: CheckAvailability, state: Reservation) -> list[Message]:
    if state.check == "available":
        return [derive(cmd, ItemsAvailable, order_id=cmd.order_id, items=state.lines)]
    if state.check == "unavailable" and state.shortage:
        return [_unavailable(cmd, state, state.shortage)]
    # new, or still checking: (re)start, which resends the product checks
    items = state.lines if state.check == "checking" else cmd.items
    return [derive(cmd, AvailabilityCheckStarted, order_id=cmd.order_id, items=items)]


def _stock_checked(cmd: StockChecked, state: Reservation) -> list[Message]:
    if state.check != "checking":
        return _outcome(cmd, state) if state.check != "none" else []
    if cmd.available_qty < cmd.requested_qty:
        return [_unavailable(cmd, state, Shortage(
            product_id=cmd.product_id, requested_qty=cmd.requested_qty,
            available_qty=cmd.available_qty, stage="check"))]
    events: list[Message] = [derive(cmd, LineChecked, order_id=cmd.order_id,
                                    product_id=cmd.product_id)]
    if {*state.checked, cmd.product_id} >= {line.product_id for line in state.lines}:
        events.append(derive(cmd, ItemsAvailable, order_id=cmd.order_id, items=state.lines))
    return events


def _reserve(cmd: ReserveItems, state: Reservation) -> list[Message]:
    if state.status in ("none", "reserving"):
        items = state.lines if state.status == "reserving" else cmd.items
        return [derive(cmd, ReservationStarted, order_id=cmd.order_id,
                       reservation_id=state.reservation_id, items=items)]
    return _outcome(cmd, state)


def _product_reserved(cmd: ProductReserved, state: Reservation) -> list[Message]:
    if state.status not in ("reserving", "reserved", "committed"):
        return []  # the release already sent covers this product too
    if state.status == "reserving" and state.currency not in ("", cmd.currency):
        return [_unavailable(cmd, state, Shortage(
            product_id=cmd.product_id, requested_qty=cmd.quantity, available_qty=0,
            stage="reserve", reason=f"{cmd.product_id} is priced in {cmd.currency}, the "
                                    f"order's other items in {state.currency}"))]
    line = derive(cmd, LineReserved, order_id=cmd.order_id, product_id=cmd.product_id,
                  unit_price=cmd.unit_price, currency=cmd.currency)
    after = evolve(state, line)
    return [line] if len(after.priced) < len(state.lines) else [_reserved(cmd, after)]


def _reserved(cause: Message, state: Reservation) -> ItemsReserved:
    return derive(cause, ItemsReserved, order_id=state.order_id,
                  reservation_id=state.reservation_id, items=state.priced,
                  total_amount=total_of(state.priced), currency=state.currency)


def _outcome(cause: Message, state: Reservation) -> list[Message]:
    """The answer already given, given again (a repeat, or a redelivery after a crash)."""
    if state.status in ("reserved", "committed"):
        return [_reserved(cause, state)]
    if state.status == "released":
        return [derive(cause, ReservationReleased, order_id=state.order_id,
                       reservation_id=state.reservation_id, items=state.lines,
                       reason=state.release_reason)]
    if state.shortage and (state.status == "unavailable" or state.check == "unavailable"):
        return [_unavailable(cause, state, state.shortage)]
    if state.check == "available":
        return [derive(cause, ItemsAvailable, order_id=state.order_id, items=state.lines)]
    return []


def _unavailable(cause: Message, state: Reservation, short: Shortage) -> ItemsUnavailable:
    return derive(cause, ItemsUnavailable, order_id=state.order_id, items=state.lines,
                  **short.model_dump())


def _rejected(cmd: Message, reason: str) -> ReservationRejected:
    return derive(cmd, ReservationRejected, order_id=cmd.key, command=cmd.type, reason=reason)


ReservationEvent = (AvailabilityCheckStarted | LineChecked | ItemsAvailable | ItemsUnavailable
                    | ReservationStarted | LineReserved | ItemsReserved | ReservationReleased
                    | ReservationCommitted | ItemsRestocked | ReservationRejected)


def evolve(state: Reservation, event: ReservationEvent) -> Reservation:
    match event:
        case AvailabilityCheckStarted() if state.check == "none":
            return state.model_copy(update={"check": "checking", "lines": event.items})
        case LineChecked() if event.product_id not in state.checked:
            return state.model_copy(update={"checked": (*state.checked, event.product_id)})
        case ItemsAvailable() if state.check == "checking":
            return state.model_copy(update={"check": "available"})
        case ItemsUnavailable() if event.stage == "check" and state.check == "checking":
            return state.model_copy(update={"check": "unavailable",
                                            "shortage": _shortage(event)})
        case ItemsUnavailable() if event.stage == "reserve" and state.status == "reserving":
            return state.model_copy(update={"status": "unavailable",
                                            "shortage": _shortage(event)})
        case ReservationStarted() if state.status == "none":
            return state.model_copy(update={"status": "reserving", "lines": event.items})
        case LineReserved() if event.product_id not in {line.product_id for line in state.held}:
            held = next(line for line in state.lines if line.product_id == event.product_id)
            priced = OrderLine(**held.model_dump(), unit_price=event.unit_price)
            return state.model_copy(update={"held": (*state.held, priced),
                                            "currency": event.currency})
        case ItemsReserved() if state.status == "reserving":  # the last line with it
            return state.model_copy(update={"status": "reserved", "held": event.items,
                                            "currency": event.currency})
        case ReservationReleased() if state.status not in ("released", "committed"):
            return state.model_copy(update={"status": "released",
                                            "release_reason": event.reason})
        case ReservationCommitted() if state.status == "reserved":
            return state.model_copy(update={"status": "committed"})
        case ItemsRestocked() if state.status == "committed":
            return state.model_copy(update={"status": "restocked"})
        case AvailabilityCheckStarted() | LineChecked() | ItemsAvailable() | ItemsUnavailable() \
                | ReservationStarted() | LineReserved() | ItemsReserved() | ReservationReleased() \
                | ReservationCommitted() | ItemsRestocked() | ReservationRejected():
            return state  # already applied, or nothing to change
        case _:
            assert_never(event)


def _shortage(event: ItemsUnavailable) -> Shortage:
    return Shortage(product_id=event.product_id, requested_qty=event.requested_qty,
                    available_qty=event.available_qty, stage=event.stage, reason=event.reason)


_FAN_OUT: dict[type[Message], type[Message]] = {
    AvailabilityCheckStarted: CheckStock, ReservationStarted: ReserveProduct,
    ReservationReleased: ReleaseProduct, ReservationCommitted: CommitProduct,
    ItemsRestocked: RestockProduct}


def fan_out(event: Message) -> list[Message]:
    """Commands the reservation sends to its products when it records an event."""
    command = _FAN_OUT.get(type(event))
    if isinstance(event, ItemsUnavailable) and event.stage == "reserve":
        command = ReleaseProduct  # all or nothing: every line goes back
    if command is None:
        return []
    lines: tuple[Item, ...] = getattr(event, "items")
    sized = command in (CheckStock, ReserveProduct)
    return [derive(event, command, salt=line.product_id, product_id=line.product_id,
                   order_id=event.key, **({"quantity": line.quantity} if sized else {}))
            for line in lines]


reservations = Decider[Reservation](
    name="reservations",
    commands=(CheckAvailability, ReserveItems, ReleaseReservation, CommitReservation,
              RestockItems, StockChecked, ProductReserved, ProductUnavailable),
    state=Reservation, initial=lambda order_id: Reservation(order_id=order_id),
    decide=decide, evolve=evolve, react=fan_out)
