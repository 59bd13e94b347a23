"""Payment HTTP API."""

from orderstream.payment.app import system
from orderstream.runtime.web import Api

api = Api(system, "orderstream payment API")
