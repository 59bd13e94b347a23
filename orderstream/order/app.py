"""OrderService: OrderActors on Faust; in orchestration mode they drive the saga. A timer scans
the orders this worker owns for saga steps past their deadline (the seed's Timeout Handling)."""

import logging
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
sent: dict[str, str] = {}  # order id -> the deadline message this process sent for it


@app.timer(interval=1.0)
async def expire_overdue_steps() -> None:
    now = datetime.now(UTC)
    due = orders.due(now)
    for key in set(sent) - set(due):  # moved on: forget it, so `sent` holds only waiting orders
        del sent[key]
    for key in due:
        state = orders.get(key)
        if state is None:
            continue
        message_id = derived_id("deadline", state.order_id, str(state.step), str(state.attempt))
        command = overdue(state, now, message_id)
        if command is not None and sent.get(key) != message_id:
            sent[key] = message_id
            log.warning("order %s: step %s attempt %d passed its deadline; asking the order to "
                        "retry or compensate", state.order_id, state.step, state.attempt)
            await system.send_now(command)


views.api.serve(system)
