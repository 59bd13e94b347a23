"""Shipment HTTP API."""

from orderstream.shipment.app import system
from orderstream.runtime.web import Api

api = Api(system, "orderstream shipment API")
