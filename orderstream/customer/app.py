"""CustomerService: its aggregates as actors on Faust (see orderstream/customer/decider.py)."""

from orderstream.customer import decider
from orderstream.runtime.actor import ActorSystem

system = ActorSystem("customer", decider.DECIDERS)
app = system.app

from orderstream.customer import views  # noqa: E402,F401  (registers the web views on app)
