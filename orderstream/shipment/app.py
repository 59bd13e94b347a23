"""ShipmentService: ShipmentActors on Faust, and the carrier port."""

from orderstream.adapters import Carrier, ServiceUnavailable
from orderstream.contracts.envelope import derive
from orderstream.contracts.shipment import LabelRequested, RecordCarrierResult
from orderstream.runtime.actor import ActorSystem
from orderstream.saga import saga_for
from orderstream.settings import load
from orderstream.shipment import decider, views

settings = load()
system = ActorSystem("shipment", decider.DECIDERS, saga_for(settings.saga_mode), settings)
app = system.app
carrier = Carrier.from_settings(settings)


async def request_label(event: LabelRequested):
    """The carrier's answer as a command; an unreachable carrier fails the step with the reason."""
    try:
        result = await carrier.create_label(
            event.shipment_id, event.order_id, event.address.model_dump(),
            [line.model_dump() for line in event.items], event.idempotency_key)
    except ServiceUnavailable as error:
        return [derive(event, RecordCarrierResult, shipment_id=event.shipment_id, accepted=False,
                       reason=error.reason)]
    return [derive(event, RecordCarrierResult, shipment_id=event.shipment_id, accepted=result.ok,
                   tracking_number=result.tracking_number, carrier="simulator" if result.ok else None,
                   reason=None if result.ok else result.reason)]


system.port((LabelRequested,), request_label, close=carrier.close)
views.api.serve(system)
