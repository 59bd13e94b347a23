"""Shipment HTTP API: a shipment with its tracking, and the carrier's status webhook."""

from pydantic import Field

from orderstream.contracts.shipment import TrackingStatus, UpdateShipmentStatus
from orderstream.runtime.web import Api, Body, href

api = Api("orderstream shipment API")


class StatusRequest(Body):
    status: TrackingStatus = Field(description='"delivered" records the delivery')
    location: str = Field(default="", max_length=200)


def location(shipment_id: str) -> str:
    return href("shipments", shipment_id)


@api.get("/shipments/{shipment_id}", "A shipment: status, carrier, tracking number, location",
         table="shipments", key="shipment_id")
async def get_shipment(request, shipment_id: str):
    return 200, api.state("shipments", shipment_id, "shipment")


@api.post("/shipments/{shipment_id}/status", "Carrier webhook: a tracking update",
          body=StatusRequest, table="shipments", key="shipment_id")
async def update_status(request, shipment_id: str):
    body = await api.body(request, StatusRequest)
    shipment = api.system.state_of("shipments", shipment_id)  # answered by the owner: its state is here
    order_id = getattr(shipment, "order_id", "") or None  # the update joins the order's trail
    command = api.command(UpdateShipmentStatus, request, correlation_id=order_id, shipment_id=shipment_id,
                          status=body.status, location=body.location)
    return await api.accept(command, location(shipment_id))
