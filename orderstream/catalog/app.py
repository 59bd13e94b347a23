"""CatalogService: its aggregates as actors on Faust (see orderstream/catalog/decider.py)."""

from orderstream.catalog import decider
from orderstream.runtime.actor import ActorSystem

system = ActorSystem("catalog", decider.DECIDERS)
app = system.app

from orderstream.catalog import views  # noqa: E402,F401  (registers the web views on app)
