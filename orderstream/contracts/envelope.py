"""The envelope every message carries, and the one way to derive a message from its cause.

Ids and time enter at the edge (an HTTP view or an agent). A message derived inside the domain
takes its id from its cause (uuid5), its correlation id from its cause, and its time from its
cause, so a redelivered command derives the very same messages.
"""

import uuid
from datetime import datetime
from typing import Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field

NAMESPACE = uuid.UUID("6f0c3a4e-4f7e-4c5b-9a47-0d7e5f4b8a11")


class Message(BaseModel):
    """Base of every command and event: frozen, strict, no extra fields.

    Subclasses set `type` to a Literal of their class name, `context` to the bounded context that
    handles the command (or emits the event), and implement `key` as the aggregate id, which is
    the Kafka key.
    """

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    context: ClassVar[str] = ""

    type: str
    message_id: str = Field(min_length=1, max_length=100)
    correlation_id: str = Field(min_length=1, max_length=100)
    causation_id: str | None = Field(default=None, max_length=100)
    occurred_at: datetime

    @property
    def key(self) -> str:
        raise NotImplementedError(type(self).__name__)

    @classmethod
    def new(cls, *, message_id: str, occurred_at: datetime, correlation_id: str | None = None,
            causation_id: str | None = None, **fields: Any) -> Self:
        """Build a message at the edge: the caller supplies the fresh id and the time."""
        return cls(type=cls.__name__, message_id=message_id,
                   correlation_id=correlation_id or message_id, causation_id=causation_id,
                   occurred_at=occurred_at, **fields)


M = TypeVar("M", bound=Message)


def derived_id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def derive(cause: Message, cls: type[M], *, salt: str = "", **fields: Any) -> M:
    """A message caused by `cause`: deterministic id, same correlation, time of the cause."""
    return cls(type=cls.__name__, message_id=derived_id(cause.message_id, cls.__name__, salt),
               correlation_id=cause.correlation_id, causation_id=cause.message_id,
               occurred_at=cause.occurred_at, **fields)
