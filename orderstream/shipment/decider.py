"""Shipment: one per order; a label from a carrier (behind a port), tracking until delivery.

A shipment can be cancelled until it is dispatched. A cancel that arrives before the shipment
is created leaves a cancelled shipment behind, so a late create is refused.

A carrier answer that was not seen is unknown, never a refusal: the shipment stays requested and
the saga's retry asks again with the same idempotency key. Once a label was requested, a cancel
cancels it at the carrier by that key, whether or not its creation was seen, and the shipment is
`cancelled` only once the carrier confirmed.
"""

from datetime import datetime
from typing import Literal, assert_never

from orderstream.contracts.common import Address, Item, Value
from orderstream.contracts.envelope import Message, derive, derived_id
from orderstream.contracts.shipment import (
    CancelShipment, CarrierOutcomeUnknown, CreateShipment, LabelCancelRequested,
    LabelRequested, PrepareShipment, RecordCarrierCancelResult, RecordCarrierResult,
    ScheduleShipment, ShipmentCancelled, ShipmentCreated, ShipmentDelivered,
    ShipmentDispatched, ShipmentFailed, ShipmentPrepared, ShipmentRejected,
    ShipmentRequested, ShipmentStatusUpdated, UpdateShipmentStatus)
from orderstream.domain import Decider

Status = Literal["none", "prepared", "requested", "created", "failed", "dispatched",
                 "in_transit", "delivered", "cancelling", "cancelled"]
TRACKING = ("created", "dispatched", "in_transit", "delivered")
NEXT: dict[str, tuple[str, ...]] = {"dispatched": ("created", "dispatched"),
                                    "in_transit": ("dispatched", "in_transit"),
                                    "delivered": ("dispatched", "in_transit", "delivered")}


class Shipment(Value):
    shipment_id: str
    status: Status = "none"
    order_id: str = ""
    items: tuple[Item, ...] = ()
    address: Address | None = None
    tracking_number: str = ""
    carrier: str = ""
    reason: str = ""
    location: str = ""
    delivered_at: datetime | None = None
    unresolved: str = ""           # why the last carrier answer was not seen

    @property
    def label_key(self) -> str:
        """The carrier idempotency key of this shipment's one label (and of its cancel)."""
        return self.shipment_id

    def with_terms(self, message: Message) -> "Shipment":
        return self.model_copy(update={"order_id": getattr(message, "order_id"),
                                       "items": getattr(message, "items"),
                                       "address": getattr(message, "address")})

    def terms(self) -> dict[str, object]:
        return dict(shipment_id=self.shipment_id, order_id=self.order_id, items=self.items,
                    address=self.address)


ShipmentCommand = (CreateShipment | PrepareShipment | ScheduleShipment | RecordCarrierResult
                   | RecordCarrierCancelResult | UpdateShipmentStatus | CancelShipment)


def decide(cmd: ShipmentCommand, state: Shipment) -> list[Message]:
    match cmd:
        case CreateShipment():
            return _create(cmd, state.with_terms(cmd) if state.status == "none" else state)
        case PrepareShipment():
            if state.status not in ("none", "prepared"):
                return []
            return [derive(cmd, ShipmentPrepared, **state.with_terms(cmd).terms())]
        case ScheduleShipment():
            if state.status == "none":
                return [derive(cmd, ShipmentFailed, shipment_id=cmd.shipment_id,
                               order_id=cmd.order_id, reason="no shipment terms for this order")]
            return _create(cmd, state)
        case RecordCarrierResult(outcome="unknown"):
            waiting = state.status == "requested"
            return [_unknown(cmd, state, "label", cmd.reason)] if waiting else []
        case RecordCarrierResult():
            return _carrier_answered(cmd, state)
        case RecordCarrierCancelResult():
            return _cancel_answered(cmd, state)
        case UpdateShipmentStatus():
            return _track(cmd, state)
        case CancelShipment():
            return _cancel(cmd, state)
        case _:
            assert_never(cmd)


def _create(cmd: Message, state: Shipment) -> list[Message]:
    if state.status in ("none", "prepared", "requested"):
        return [derive(cmd, LabelRequested, **state.terms(), idempotency_key=state.shipment_id)]
    return _outcome(cmd, state)


def _carrier_answered(cmd: RecordCarrierResult, state: Shipment) -> list[Message]:
    if state.status != "requested":
        return _outcome(cmd, state) if state.status != "cancelled" else []
    ids = dict(shipment_id=state.shipment_id, order_id=state.order_id)
    accepted = cmd.outcome == "accepted"
    if accepted and cmd.tracking_number:
        return [derive(cmd, ShipmentCreated, **ids, tracking_number=cmd.tracking_number,
                       carrier=cmd.carrier or "unknown")]
    reason = cmd.reason or ("carrier accepted without a tracking number" if accepted
                            else "refused by the carrier")
    return [derive(cmd, ShipmentFailed, **ids, reason=reason)]


def _cancel(cmd: CancelShipment, state: Shipment) -> list[Message]:
    if state.status in ("dispatched", "in_transit", "delivered"):
        return [_rejected(cmd, state, f"cannot cancel: shipment is {state.status}")]
    reason = state.reason if state.status in ("cancelling", "cancelled") else cmd.reason
    if state.status in ("requested", "created", "cancelling"):  # a label may exist
        return [derive(cmd, LabelCancelRequested, shipment_id=state.shipment_id,
                       order_id=state.order_id, label_key=state.label_key,
                       idempotency_key=derived_id("cancel", state.shipment_id), reason=reason)]
    return [derive(cmd, ShipmentCancelled, shipment_id=cmd.shipment_id, order_id=cmd.order_id,
                   reason=reason)]


def _cancel_answered(cmd: RecordCarrierCancelResult, state: Shipment) -> list[Message]:
    if state.status != "cancelling":
        return []
    if cmd.outcome == "unknown":
        return [_unknown(cmd, state, "cancel", cmd.reason)]
    return [derive(cmd, ShipmentCancelled, shipment_id=state.shipment_id,
                   order_id=state.order_id, reason=state.reason)]


def _unknown(cmd: Message, state: Shipment, operation: Literal["label", "cancel"],
             reason: str | None) -> CarrierOutcomeUnknown:
    return derive(cmd, CarrierOutcomeUnknown, shipment_id=state.shipment_id,
                  order_id=state.order_id or "-", operation=operation,
                  reason=reason or "no answer from the carrier")


def _track(cmd: UpdateShipmentStatus, state: Shipment) -> list[Message]:
    if state.status not in NEXT[cmd.status]:
        return [_rejected(cmd, state, f"cannot go from {state.status} to {cmd.status}")]
    ids = dict(shipment_id=state.shipment_id, order_id=state.order_id)
    match cmd.status:
        case "dispatched":
            return [derive(cmd, ShipmentDispatched, **ids, location=cmd.location)]
        case "in_transit":
            return [derive(cmd, ShipmentStatusUpdated, **ids, status="in_transit",
                           location=cmd.location)]
        case "delivered":
            return [derive(cmd, ShipmentDelivered, **ids,
                           delivery_time=state.delivered_at or cmd.occurred_at)]


def _outcome(cmd: Message, state: Shipment) -> list[Message]:
    ids = dict(shipment_id=state.shipment_id, order_id=state.order_id)
    if state.status in TRACKING:
        return [derive(cmd, ShipmentCreated, **ids, tracking_number=state.tracking_number,
                       carrier=state.carrier)]
    if state.status == "failed":
        return [derive(cmd, ShipmentFailed, **ids, reason=state.reason)]
    if state.status == "cancelled":
        return [derive(cmd, ShipmentCancelled, **ids, reason=state.reason)]
    return []


def _rejected(cmd: Message, state: Shipment, reason: str) -> ShipmentRejected:
    return derive(cmd, ShipmentRejected, shipment_id=state.shipment_id, command=cmd.type,
                  reason=reason, order_id=state.order_id or getattr(cmd, "order_id", None))


ShipmentEvent = (ShipmentPrepared | ShipmentRequested | LabelRequested | ShipmentCreated
                 | ShipmentFailed | ShipmentDispatched | ShipmentStatusUpdated
                 | ShipmentDelivered | CarrierOutcomeUnknown | LabelCancelRequested
                 | ShipmentCancelled | ShipmentRejected)


def evolve(state: Shipment, event: ShipmentEvent) -> Shipment:
    match event:
        case ShipmentPrepared() if state.status == "none":
            return state.with_terms(event).model_copy(update={"status": "prepared"})
        case LabelRequested() | ShipmentRequested() if state.status in ("none", "prepared"):
            return state.with_terms(event).model_copy(update={"status": "requested"})
        case ShipmentCreated() if state.status == "requested":
            return state.model_copy(update={"status": "created", "carrier": event.carrier,
                                            "tracking_number": event.tracking_number,
                                            "unresolved": ""})
        case ShipmentFailed() if state.status in ("none", "requested"):
            return state.model_copy(update={"status": "failed", "reason": event.reason,
                                            "order_id": event.order_id, "unresolved": ""})
        case ShipmentDispatched() if state.status == "created":
            return state.model_copy(update={"status": "dispatched", "location": event.location})
        case ShipmentStatusUpdated():
            return state.model_copy(update={"status": "in_transit", "location": event.location})
        case ShipmentDelivered() if state.status != "delivered":
            return state.model_copy(update={"status": "delivered",
                                            "delivered_at": event.delivery_time})
        case CarrierOutcomeUnknown():
            return state.model_copy(update={"unresolved": f"{event.operation}: {event.reason}"})
        case LabelCancelRequested() if state.status in ("requested", "created"):
            return state.model_copy(update={"status": "cancelling", "reason": event.reason})
        case ShipmentCancelled() if state.status not in TRACKING[1:] + ("cancelled",):
            return state.model_copy(update={"status": "cancelled", "reason": event.reason,
                                            "order_id": event.order_id, "unresolved": ""})
        case ShipmentPrepared() | ShipmentRequested() | LabelRequested() | ShipmentCreated() \
                | ShipmentFailed() | ShipmentDispatched() | ShipmentDelivered() \
                | LabelCancelRequested() | ShipmentCancelled() | ShipmentRejected():
            return state  # already applied, or nothing to change
        case _:
            assert_never(event)


shipments = Decider[Shipment](
    name="shipments",
    commands=(CreateShipment, PrepareShipment, ScheduleShipment, RecordCarrierResult,
              RecordCarrierCancelResult, UpdateShipmentStatus, CancelShipment),
    state=Shipment, initial=lambda shipment_id: Shipment(shipment_id=shipment_id),
    decide=decide, evolve=evolve)

DECIDERS = (shipments,)
