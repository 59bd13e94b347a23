"""ShipmentService: ShipmentActors on Faust, and the carrier port."""

from orderstream.adapters import Carrier, ServiceUnavailable
from orderstream.contracts.envelope import Message, derive
from orderstream.contracts.shipment import (LabelCancelRequested, LabelRequested,
                                            RecordCarrierCancelResult, RecordCarrierResult)
from orderstream.runtime.actor import ActorSystem
from orderstream.saga import saga_for
from orderstream.settings import load
from orderstream.shipment import decider, views

settings = load()
system = ActorSystem("shipment", decider.DECIDERS, saga_for(settings.saga_mode), settings)
app = system.app
carrier = Carrier.from_settings(settings)
system.metrics.watch_breaker(carrier.breaker)


async def call_carrier(event: LabelRequested | LabelCancelRequested) -> list[Message]:
    """The carrier's answer as a command. No answer seen (timeout, 5xx, circuit still open) is
    an unknown outcome, never a refusal: the shipment keeps waiting and is asked again."""
    if isinstance(event, LabelCancelRequested):
        return [await _cancel(event)]
    try:
        label = await carrier.create_label(
            event.shipment_id, event.order_id, event.address.model_dump(),
            [line.model_dump() for line in event.items], event.idempotency_key)
    except ServiceUnavailable as error:
        return [derive(event, RecordCarrierResult, shipment_id=event.shipment_id,
                       outcome="unknown", reason=error.reason[:500])]
    return [derive(event, RecordCarrierResult, shipment_id=event.shipment_id,
                   outcome="accepted" if label.ok else "refused",
                   tracking_number=label.tracking_number, carrier="simulator" if label.ok else None,
                   reason=None if label.ok else label.reason)]


async def _cancel(event: LabelCancelRequested) -> Message:
    try:
        cancel = await carrier.cancel(event.shipment_id, event.label_key, event.idempotency_key)
    except ServiceUnavailable as error:
        return derive(event, RecordCarrierCancelResult, shipment_id=event.shipment_id,
                      outcome="unknown", reason=error.reason[:500])
    return derive(event, RecordCarrierCancelResult, shipment_id=event.shipment_id,
                  outcome="cancelled" if cancel.ok else "unknown",
                  reason=None if cancel.ok else f"cancel refused: {cancel.reason}"[:500])


system.port((LabelRequested, LabelCancelRequested), call_carrier, close=carrier.close)
views.api.serve(system)
