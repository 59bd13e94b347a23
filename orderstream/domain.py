"""The shape of a pure aggregate (a decider): what the runtime needs to drive it.

decide(command, state) -> events; evolve(state, event) -> state; state starts at initial();
react(event) -> the commands the aggregate sends its own context when it records an event.
A decider imports only contracts and the standard library: no faust, no I/O, no clock.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from orderstream.contracts.envelope import Message

S = TypeVar("S", bound=BaseModel)


@dataclass(frozen=True)
class Entries:
    """A dict field of the state that grows with history (a product's holds: one per order ever
    placed) and so is stored one row per entry, not in the aggregate's row. The state a command
    sees holds only the entry that `key(command)` names; decide and evolve read no other."""

    field: str
    key: Callable[[Message], str | None]


@dataclass(frozen=True)
class Decider(Generic[S]):
    name: str                                   # aggregate type, e.g. "product"; table name
    commands: tuple[type[Message], ...]         # the messages this aggregate accepts
    state: type[S]                              # pydantic model of the state (stored as JSON)
    initial: Callable[[str], S]                 # initial state for an aggregate id
    decide: Callable[[Any, S], list[Message]]
    evolve: Callable[[S, Any], S]
    entries: Entries | None = None
    wakes: str | None = None  # the seed's receive timeout: the state's datetime field that says
    # when the runtime should wake this aggregate up (None: not waiting)
    react: Callable[[Any], list[Message]] | None = None
    folds: tuple[type[Message], ...] = ()      # other contexts' events folded straight into the
    # state, appending no event of its own: a read model of them (a customer's order history)

    def fold(self, state: S, events: Iterable[Message]) -> S:
        for event in events:
            state = self.evolve(state, event)
        return state

    def apply(self, message: Message, state: S) -> tuple[list[Message], S]:
        """The events a message causes, and the state after them."""
        if isinstance(message, self.folds):
            return [], self.evolve(state, message)
        events = self.decide(message, state)
        return events, self.fold(state, events)


Saga = Callable[[Message, BaseModel], list[Message]]
"""The saga's part in a context: (event, state after it) -> the commands of the next steps."""


def no_saga(event: Message, state: BaseModel) -> list[Message]:
    return []


def follow_up(decider: Decider, saga: Saga, event: Message, state: BaseModel,
              now: datetime) -> list[Message]:
    """The commands an event causes: its aggregate's own reactions, then the saga's next steps,
    each starting `now` (the live loop's clock; a simulation keeps the event's time)."""
    commands = (decider.react(event) if decider.react else []) + saga(event, state)
    return [c if c.occurred_at == now else c.model_copy(update={"occurred_at": now})
            for c in commands]
