"""The shipping carrier, over HTTP.

A refused label (e.g. an undeliverable address) is an answer (`ok=False` with the carrier's
reason). When no answer was seen, the call raises `CarrierUnavailable`: the label may or may not
exist, so the caller asks again with the same idempotency key, or cancels by that key. Requests
carry the caller's idempotency key, so a retried request creates one label.

`cancel(label_key)` cancels the label created with that idempotency key, or, if none was
created, makes the carrier refuse that key from then on. Only a 2xx confirms a cancel.
"""

from dataclasses import dataclass
from typing import Any

from orderstream.adapters.breaker import CircuitBreaker
from orderstream.adapters.http import JsonClient, Reply, ServiceUnavailable
from orderstream.runtime.retry import RetryPolicy
from orderstream.settings import Settings


class CarrierUnavailable(ServiceUnavailable):
    pass


@dataclass(frozen=True)
class CarrierResult:
    ok: bool
    tracking_number: str | None = None
    reason: str | None = None


class Carrier:
    def __init__(self, base_url: str, *, timeout_seconds: float = 2.0,
                 retry: RetryPolicy | None = None, breaker: CircuitBreaker | None = None,
                 breaker_wait_seconds: float | None = None) -> None:
        self.breaker = breaker
        self._http = JsonClient(base_url, service="carrier", timeout_seconds=timeout_seconds,
                                retry=retry or RetryPolicy(), breaker=breaker,
                                unavailable=CarrierUnavailable,
                                breaker_wait_seconds=breaker_wait_seconds)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Carrier":
        return cls(settings.carrier_url, timeout_seconds=settings.http_timeout_seconds,
                   retry=RetryPolicy.from_settings(settings),
                   breaker=CircuitBreaker(name="carrier",
                                          failure_threshold=settings.breaker_failure_threshold,
                                          cool_down_seconds=settings.breaker_cool_down_seconds))

    async def create_label(self, shipment_id: str, order_id: str, address: dict[str, Any],
                           items: list[dict[str, Any]], idempotency_key: str) -> CarrierResult:
        reply = await self._http.post(
            "/v1/labels", {"shipment_id": shipment_id, "order_id": order_id,
                           "address": address, "items": items},
            idempotency_key=idempotency_key, subject=f"shipment {shipment_id}: carrier label")
        return result(reply)

    async def cancel(self, shipment_id: str, label_key: str,
                            idempotency_key: str) -> CarrierResult:
        reply = await self._http.post(
            "/v1/labels/cancel", {"shipment_id": shipment_id, "label_key": label_key},
            idempotency_key=idempotency_key, subject=f"shipment {shipment_id}: carrier cancel")
        return result(reply)

    async def close(self) -> None:
        await self._http.close()


def result(reply: Reply) -> CarrierResult:
    if 200 <= reply.status < 300:
        return CarrierResult(ok=True, tracking_number=reply.body.get("tracking_number"))
    return CarrierResult(ok=False, reason=reply.reason)
