"""The saga's shared parts, pure: compensations and choreography. The order wing owns its
orchestration (orderstream/order); each context's app hands its saga to the runtime."""

from orderstream.domain import Saga, no_saga
from orderstream.saga.choreography import choreograph


def saga_for(mode: str, orchestrate: Saga | None = None) -> Saga:
    """A context's part in the saga: in orchestration only the order drives (`orchestrate`);
    in choreography every context reacts to the events it cares about."""
    if mode == "choreography":
        return lambda event, state: choreograph(event)
    return orchestrate or no_saga
