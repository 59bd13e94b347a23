"""Adapters: the only code that talks to services outside orderstream."""

from orderstream.adapters.breaker import BreakerState, CircuitBreaker
from orderstream.adapters.carrier import Carrier, CarrierResult, CarrierUnavailable
from orderstream.adapters.gateway import (GatewayResult, GatewayUnavailable, GatewayVoid,
                                          PaymentGateway)
from orderstream.adapters.http import ServiceUnavailable

__all__ = ["BreakerState", "Carrier", "CarrierResult", "CarrierUnavailable", "CircuitBreaker",
           "GatewayResult", "GatewayUnavailable", "GatewayVoid", "PaymentGateway",
           "ServiceUnavailable"]
