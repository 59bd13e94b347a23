"""PaymentService: PaymentActors on Faust, and the card gateway port."""

from orderstream.adapters import PaymentGateway, ServiceUnavailable
from orderstream.contracts.envelope import Message, derive
from orderstream.contracts.payment import (GatewayChargeRequested, GatewayRefundRequested,
                                           GatewayVoidRequested, RecordGatewayRefundResult,
                                           RecordGatewayResult, RecordGatewayVoidResult)
from orderstream.payment import decider, views
from orderstream.runtime.actor import ActorSystem
from orderstream.saga import saga_for
from orderstream.settings import load

settings = load()
system = ActorSystem("payment", decider.DECIDERS, saga_for(settings.saga_mode), settings)
app = system.app
gateway = PaymentGateway.from_settings(settings)
system.metrics.watch_breaker(gateway.breaker)

GatewayRequest = GatewayChargeRequested | GatewayRefundRequested | GatewayVoidRequested


async def call_gateway(event: GatewayRequest) -> list[Message]:
    """The gateway's answer as a command. No answer seen (timeout, 5xx, circuit still open) is
    an unknown outcome, never a decline: the payment keeps waiting and is asked again."""
    try:
        return [await _ask(event)]
    except ServiceUnavailable as error:
        return [_unknown(event, error.reason[:500])]


async def _ask(event: GatewayRequest) -> Message:
    match event:
        case GatewayChargeRequested():
            charge = await gateway.charge(event.payment_id, event.amount, event.currency,
                                          event.idempotency_key)
            return derive(event, RecordGatewayResult, payment_id=event.payment_id,
                          outcome="approved" if charge.approved else "declined",
                          transaction_id=charge.transaction_id, reason=charge.reason)
        case GatewayRefundRequested():
            refund = await gateway.refund(event.payment_id, event.transaction_id, event.amount,
                                          event.currency, event.idempotency_key)
            return derive(event, RecordGatewayRefundResult, payment_id=event.payment_id,
                          refund_id=event.refund_id,
                          outcome="approved" if refund.approved else "declined",
                          reason=refund.reason)
        case GatewayVoidRequested():
            void = await gateway.void(event.payment_id, event.charge_key, event.idempotency_key)
            return derive(event, RecordGatewayVoidResult, payment_id=event.payment_id,
                          outcome="voided" if void.voided else "unknown",
                          transaction_id=void.transaction_id,
                          reversed_amount=void.reversed_amount,
                          reason=None if void.voided else f"void refused: {void.reason}"[:500])


def _unknown(event: GatewayRequest, reason: str) -> Message:
    match event:
        case GatewayChargeRequested():
            return derive(event, RecordGatewayResult, payment_id=event.payment_id,
                          outcome="unknown", reason=reason)
        case GatewayRefundRequested():
            return derive(event, RecordGatewayRefundResult, payment_id=event.payment_id,
                          refund_id=event.refund_id, outcome="unknown", reason=reason)
        case GatewayVoidRequested():
            return derive(event, RecordGatewayVoidResult, payment_id=event.payment_id,
                          outcome="unknown", reason=reason)


system.port((GatewayChargeRequested, GatewayRefundRequested, GatewayVoidRequested), call_gateway,
            close=gateway.close)
views.api.serve(system)
