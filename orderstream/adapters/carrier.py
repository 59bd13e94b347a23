"""The shipping carrier, over HTTP.

A refused label (e.g. an undeliverable address) is an answer (`ok=False` with the carrier's
reason). When the carrier cannot answer, the call raises `CarrierUnavailable`. Requests carry
the caller's idempotency key, so a retried request creates one label.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

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
                 retry: RetryPolicy | None = None, breaker: CircuitBreaker | None = None) -> None:
        self._http = JsonClient(base_url, service="carrier", timeout_seconds=timeout_seconds,
                                retry=retry or RetryPolicy(), breaker=breaker,
                                unavailable=CarrierUnavailable)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Carrier":
        return cls(settings.carrier_url, timeout_seconds=settings.http_timeout_seconds,
                   retry=RetryPolicy.from_settings(settings))

    async def create_label(self, shipment_id: str, order_id: str, address: dict[str, Any],
                           items: list[dict[str, Any]], idempotency_key: str) -> CarrierResult:
        reply = await self._http.post(
            "/v1/labels", {"shipment_id": shipment_id, "order_id": order_id,
                           "address": address, "items": items},
            idempotency_key=idempotency_key, subject=f"shipment {shipment_id}: carrier label")
        return result(reply)

    async def cancel(self, shipment_id: str, tracking_number: str,
                     idempotency_key: str) -> CarrierResult:
        reply = await self._http.post(
            f"/v1/labels/{quote(tracking_number, safe='')}/cancel", {"shipment_id": shipment_id},
            idempotency_key=idempotency_key, subject=f"shipment {shipment_id}: carrier cancel")
        return result(reply)

    async def close(self) -> None:
        await self._http.close()


def result(reply: Reply) -> CarrierResult:
    if 200 <= reply.status < 300:
        return CarrierResult(ok=True, tracking_number=reply.body.get("tracking_number"))
    return CarrierResult(ok=False, reason=reply.reason)
