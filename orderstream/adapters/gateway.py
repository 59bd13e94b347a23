"""The card payment gateway, over HTTP.

A decline is an answer (`approved=False` with the gateway's reason), never an exception. When no
answer was seen (retries exhausted, circuit still open) the call raises `GatewayUnavailable`: the
charge may or may not have happened, so the caller asks again with the same idempotency key, or
voids by that key. Every charge and refund carries the caller's idempotency key, so a retried
or redelivered request is charged once: derive the key from the saga step (uuid5), never from
the attempt.

`void(charge_key)` reverses whatever the charge sent with that idempotency key did: the gateway
refunds what it captured, or, if no charge was made with the key, refuses that key from then on,
so a charge still in flight cannot land after the void. Only a 2xx confirms a void.
"""

from dataclasses import dataclass

from orderstream.adapters.breaker import CircuitBreaker
from orderstream.adapters.http import JsonClient, Reply, ServiceUnavailable
from orderstream.runtime.retry import RetryPolicy
from orderstream.settings import Settings


class GatewayUnavailable(ServiceUnavailable):
    pass


@dataclass(frozen=True)
class GatewayResult:
    approved: bool
    transaction_id: str | None = None       # the charge's id; for a refund, the refund's id
    reason: str | None = None


@dataclass(frozen=True)
class GatewayVoid:
    voided: bool
    transaction_id: str | None = None       # the charge that was reversed, if one was made
    reversed_amount: int = 0
    reason: str | None = None


class PaymentGateway:
    def __init__(self, base_url: str, *, timeout_seconds: float = 2.0,
                 retry: RetryPolicy | None = None, breaker: CircuitBreaker | None = None,
                 breaker_wait_seconds: float | None = None) -> None:
        self.breaker = breaker or CircuitBreaker(name="gateway")
        self._http = JsonClient(base_url, service="gateway", timeout_seconds=timeout_seconds,
                                retry=retry or RetryPolicy(), breaker=self.breaker,
                                unavailable=GatewayUnavailable,
                                breaker_wait_seconds=breaker_wait_seconds)

    @classmethod
    def from_settings(cls, settings: Settings) -> "PaymentGateway":
        return cls(settings.gateway_url, timeout_seconds=settings.http_timeout_seconds,
                   retry=RetryPolicy.from_settings(settings),
                   breaker=CircuitBreaker(name="gateway",
                                          failure_threshold=settings.breaker_failure_threshold,
                                          cool_down_seconds=settings.breaker_cool_down_seconds))

    async def charge(self, payment_id: str, amount: int, currency: str,
                     idempotency_key: str) -> GatewayResult:
        reply = await self._http.post(
            "/v1/charges", {"payment_id": payment_id, "amount": amount, "currency": currency},
            idempotency_key=idempotency_key, subject=f"payment {payment_id}: gateway charge")
        return result(reply, id_field="transaction_id")

    async def refund(self, payment_id: str, transaction_id: str, amount: int, currency: str,
                     idempotency_key: str) -> GatewayResult:
        reply = await self._http.post(
            "/v1/refunds", {"payment_id": payment_id, "transaction_id": transaction_id,
                            "amount": amount, "currency": currency},
            idempotency_key=idempotency_key, subject=f"payment {payment_id}: gateway refund")
        return result(reply, id_field="refund_id")

    async def void(self, payment_id: str, charge_key: str, idempotency_key: str) -> GatewayVoid:
        reply = await self._http.post(
            "/v1/charges/void", {"payment_id": payment_id, "charge_key": charge_key},
            idempotency_key=idempotency_key, subject=f"payment {payment_id}: gateway void")
        if not 200 <= reply.status < 300:
            return GatewayVoid(voided=False, reason=reply.reason)
        return GatewayVoid(voided=True, transaction_id=reply.body.get("transaction_id"),
                           reversed_amount=int(reply.body.get("reversed_amount") or 0))

    async def close(self) -> None:
        await self._http.close()


def result(reply: Reply, *, id_field: str) -> GatewayResult:
    if 200 <= reply.status < 300:
        return GatewayResult(approved=True, transaction_id=str(reply.body[id_field]))
    return GatewayResult(approved=False, reason=reply.reason)
