"""CustomerService: its aggregates as actors on Faust (see orderstream/customer/decider.py)."""

from orderstream.customer import decider, views
from orderstream.runtime.actor import ActorSystem
from orderstream.saga import saga_for
from orderstream.settings import load

settings = load()
system = ActorSystem("customer", decider.DECIDERS, saga_for(settings.saga_mode), settings)
app = system.app
views.api.serve(system)
