"""Shipment messages, keyed by shipment id (derived from the order id: one shipment per order).

Carriers sit behind a port: the decider emits `LabelRequested`; the runtime's adapter asks the
carrier (with `idempotency_key`) and feeds the answer back as `RecordCarrierResult`. Carrier
tracking updates enter as `UpdateShipmentStatus`.
"""

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from orderstream.contracts.common import Address, Id, Items, Reason, Text
from orderstream.contracts.envelope import Message

TrackingStatus = Literal["dispatched", "in_transit", "delivered"]


class ShipmentMessage(Message):
    context: ClassVar[str] = "shipment"
    shipment_id: Id

    @property
    def key(self) -> str:
        return self.shipment_id


class ShipmentTerms(ShipmentMessage):
    order_id: Id
    items: Items
    address: Address


# --- commands -----------------------------------------------------------------------------
class CreateShipment(ShipmentTerms):
    type: Literal["CreateShipment"] = "CreateShipment"


class PrepareShipment(ShipmentTerms):
    """Choreography: keep the terms from OrderCreated until `ScheduleShipment` arrives."""
    type: Literal["PrepareShipment"] = "PrepareShipment"


class ScheduleShipment(ShipmentMessage):
    """Choreography (seed name): create the prepared shipment."""
    type: Literal["ScheduleShipment"] = "ScheduleShipment"
    order_id: Id


class RecordCarrierResult(ShipmentMessage):
    type: Literal["RecordCarrierResult"] = "RecordCarrierResult"
    accepted: bool
    tracking_number: Text | None = None
    carrier: Text | None = None
    reason: Reason | None = None


class UpdateShipmentStatus(ShipmentMessage):
    type: Literal["UpdateShipmentStatus"] = "UpdateShipmentStatus"
    status: TrackingStatus
    location: str = Field(default="", max_length=200)


class CancelShipment(ShipmentMessage):
    type: Literal["CancelShipment"] = "CancelShipment"
    order_id: Id
    reason: Reason


# --- events -------------------------------------------------------------------------------
class ShipmentPrepared(ShipmentTerms):
    type: Literal["ShipmentPrepared"] = "ShipmentPrepared"


class ShipmentRequested(ShipmentTerms):
    type: Literal["ShipmentRequested"] = "ShipmentRequested"


class LabelRequested(ShipmentTerms):
    type: Literal["LabelRequested"] = "LabelRequested"
    idempotency_key: Id


class ShipmentCreated(ShipmentMessage):
    """Seed choreography's `ShipmentScheduled`."""
    type: Literal["ShipmentCreated"] = "ShipmentCreated"
    order_id: Id
    tracking_number: Text
    carrier: Text


class ShipmentFailed(ShipmentMessage):
    type: Literal["ShipmentFailed"] = "ShipmentFailed"
    order_id: Id
    reason: Reason


class ShipmentDispatched(ShipmentMessage):
    type: Literal["ShipmentDispatched"] = "ShipmentDispatched"
    order_id: Id
    location: str = Field(default="", max_length=200)


class ShipmentStatusUpdated(ShipmentMessage):
    type: Literal["ShipmentStatusUpdated"] = "ShipmentStatusUpdated"
    order_id: Id
    status: TrackingStatus
    location: str = Field(default="", max_length=200)


class ShipmentDelivered(ShipmentMessage):
    type: Literal["ShipmentDelivered"] = "ShipmentDelivered"
    order_id: Id
    delivery_time: datetime


class ShipmentCancelled(ShipmentMessage):
    type: Literal["ShipmentCancelled"] = "ShipmentCancelled"
    order_id: Id
    reason: Reason


class ShipmentRejected(ShipmentMessage):
    type: Literal["ShipmentRejected"] = "ShipmentRejected"
    command: Text
    reason: Reason
    order_id: Id | None = None
