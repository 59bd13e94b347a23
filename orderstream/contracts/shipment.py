"""Shipment messages, keyed by shipment id (derived from the order id: one shipment per order).

Carriers sit behind a port: the decider emits `LabelRequested` / `LabelCancelRequested`; the
shipment context's port asks the carrier (with `idempotency_key`) and feeds the answer back as
`RecordCarrierResult` / `RecordCarrierCancelResult`. An answer the port did not see comes back as
`outcome="unknown"`: never a refusal. Carrier tracking updates enter as `UpdateShipmentStatus`.
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
    """The carrier's answer to a label request; `unknown`: none was seen, the label may exist."""
    type: Literal["RecordCarrierResult"] = "RecordCarrierResult"
    outcome: Literal["accepted", "refused", "unknown"]
    tracking_number: Text | None = None
    carrier: Text | None = None
    reason: Reason | None = None


class RecordCarrierCancelResult(ShipmentMessage):
    """`cancelled`: no label made with the key stands, or ever will. `unknown`: none seen."""
    type: Literal["RecordCarrierCancelResult"] = "RecordCarrierCancelResult"
    outcome: Literal["cancelled", "unknown"]
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
    """Written before 2026-12-08 next to each LabelRequested, which now says it alone (one record
    less per order): still read, in the logs of those builds, and never written."""
    type: Literal["ShipmentRequested"] = "ShipmentRequested"


class LabelRequested(ShipmentTerms):
    """The shipment is requested: its label is asked of the carrier under `idempotency_key`."""
    type: Literal["LabelRequested"] = "LabelRequested"
    idempotency_key: Id


class LabelCancelRequested(ShipmentMessage):
    """Cancel the label requested with `label_key`, whether or not its creation was seen."""
    type: Literal["LabelCancelRequested"] = "LabelCancelRequested"
    order_id: Id
    label_key: Id
    idempotency_key: Id
    reason: Reason


class CarrierOutcomeUnknown(ShipmentMessage):
    """No answer seen from the carrier: the shipment stays as it was, and the saga's retry asks
    again with the same idempotency key."""
    type: Literal["CarrierOutcomeUnknown"] = "CarrierOutcomeUnknown"
    order_id: Id
    operation: Literal["label", "cancel"]
    reason: Reason


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
