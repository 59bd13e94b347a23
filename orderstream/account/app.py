"""AccountService: its aggregates as actors on Faust (see orderstream/account/decider.py)."""

from orderstream.account import decider
from orderstream.runtime.actor import ActorSystem

system = ActorSystem("account", decider.DECIDERS)
app = system.app

from orderstream.account import views  # noqa: E402,F401  (registers the web views on app)
