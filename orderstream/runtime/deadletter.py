"""Dead letters: a message that can never be processed is parked with the reason, not lost."""

import logging
import traceback
from datetime import UTC, datetime

from faust.types import EventT, TopicT

log = logging.getLogger(__name__)


def dead_letter_headers(event: EventT, error: BaseException, context: str) -> list[tuple[str, bytes]]:
    message = event.message
    original = [(k, v) for k, v in (message.headers or []) if not k.startswith("x-dlq-")]
    return original + [
        ("x-dlq-context", context.encode()),
        ("x-dlq-topic", message.topic.encode()),
        ("x-dlq-partition", str(message.partition).encode()),
        ("x-dlq-offset", str(message.offset).encode()),
        ("x-dlq-exception", f"{type(error).__name__}: {error}"[:2000].encode()),
        ("x-dlq-stacktrace", "".join(traceback.format_exception(error))[-4000:].encode()),
        ("x-dlq-at", datetime.now(UTC).isoformat().encode()),
    ]


async def park(topic: TopicT, event: EventT, error: BaseException, context: str) -> None:
    message = event.message
    log.error("%s: dead-lettered %s[%s]@%s to %s: %s: %s; processing continues", context,
              message.topic, message.partition, message.offset, topic.get_topic_name(),
              type(error).__name__, str(error).splitlines()[0] if str(error) else "")
    await topic.send(key=message.key, value=message.value,
                     headers=dead_letter_headers(event, error, context))
