"""Catalog HTTP API."""

from orderstream.catalog.app import system
from orderstream.runtime.web import Api

api = Api(system, "orderstream catalog API")
