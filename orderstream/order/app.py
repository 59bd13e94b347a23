"""OrderService: OrderActors on Faust; in orchestration mode they drive the saga. A timer scans
the orders this worker owns for saga steps past their deadline (the seed's Timeout Handling)."""

import logging
import time
from datetime import UTC, datetime

from orderstream.contracts.envelope import derived_id
from orderstream.order import decider, views
from orderstream.order.deadlines import overdue
from orderstream.order.orchestration import orchestrate
from orderstream.order.progress import SagaClock
from orderstream.runtime.actor import ActorSystem
from orderstream.saga import saga_for
from orderstream.settings import load

log = logging.getLogger(__name__)

settings = load()
system = ActorSystem("order", decider.DECIDERS, saga_for(settings.saga_mode, orchestrate), settings,
                     census=("orders",))
system.observe(SagaClock("order", system.metrics))
app = system.app
orders = system.stores["orders"]
sent: dict[str, tuple[str, float]] = {}  # order id -> (deadline message sent for it, when)
RESEND_SECONDS = 30.0  # a deadline message not acted on by then was lost: the same one again


@app.timer(interval=1.0)
async def expire_overdue_steps() -> None:
    if not system.recovered():
        return
    now, clock = datetime.now(UTC), time.monotonic()
    due = orders.due(now)
    for key in set(sent) - set(due):  # moved on: forget it, so `sent` holds only waiting orders
        del sent[key]
    for key in due:
        state = orders.get(key)
        if state is None:
            continue
        message_id = derived_id("deadline", state.order_id, str(state.step), str(state.attempt))
        command = overdue(state, now, message_id)
        last = sent.get(key)
        if command is None or (last is not None and last[0] == message_id and clock - last[1] < RESEND_SECONDS):
            continue
        log.warning("order %s: step %s attempt %d passed its deadline; asking the order to retry or "
                    "compensate%s", state.order_id, state.step, state.attempt, " (again)" if last else "")
        try:
            await system.send_now(command)
        except Exception as error:  # the broker is away: the next scan tries again
            log.warning("order %s: deadline message not sent (%r)", state.order_id, error)
            return
        sent[key] = (message_id, clock)


views.api.serve(system)
