"""PaymentService: PaymentActors on Faust, and the card gateway port."""

from orderstream.adapters import GatewayResult, PaymentGateway, ServiceUnavailable
from orderstream.contracts.envelope import derive
from orderstream.contracts.payment import (GatewayChargeRequested, GatewayRefundRequested,
                                           RecordGatewayRefundResult, RecordGatewayResult)
from orderstream.payment import decider, views
from orderstream.runtime.actor import ActorSystem
from orderstream.saga import saga_for
from orderstream.settings import load

settings = load()
system = ActorSystem("payment", decider.DECIDERS, saga_for(settings.saga_mode), settings)
app = system.app
gateway = PaymentGateway.from_settings(settings)


async def call_gateway(event: GatewayChargeRequested | GatewayRefundRequested):
    """The gateway's answer as a command; an unreachable gateway is a failed step, not a crash."""
    charge = isinstance(event, GatewayChargeRequested)
    try:
        result = await (gateway.charge(event.payment_id, event.amount, event.currency, event.idempotency_key)
                        if charge else
                        gateway.refund(event.payment_id, event.transaction_id, event.amount,
                                       event.currency, event.idempotency_key))
    except ServiceUnavailable as error:
        result = GatewayResult(approved=False, reason=error.reason)
    reason = None if result.approved else (result.reason or "declined by the gateway")
    if charge:
        return [derive(event, RecordGatewayResult, payment_id=event.payment_id, approved=result.approved,
                       transaction_id=result.transaction_id if result.approved else None, reason=reason)]
    return [derive(event, RecordGatewayRefundResult, payment_id=event.payment_id,
                   refund_id=event.refund_id, approved=result.approved, reason=reason)]


system.port((GatewayChargeRequested, GatewayRefundRequested), call_gateway, close=gateway.close)
views.api.serve(system)
