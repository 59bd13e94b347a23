"""Customer HTTP API."""

from orderstream.customer.app import system
from orderstream.runtime.web import Api

api = Api(system, "orderstream customer API")
