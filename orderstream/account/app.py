"""AccountService: its aggregates as actors on Faust (see orderstream/account/decider.py)."""

from orderstream.account import decider, faults, views
from orderstream.runtime.actor import ActorSystem
from orderstream.saga import saga_for
from orderstream.settings import load

settings = load()
system = ActorSystem("account", faults.injected(decider.DECIDERS), saga_for(settings.saga_mode),
                     settings)
app = system.app
views.api.serve(system)
