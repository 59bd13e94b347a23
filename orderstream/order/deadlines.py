"""What the runtime's deadline scan sends: the clock enters here, as `now`, from the edge."""

from datetime import datetime

from orderstream.contracts.order import StepDeadlinePassed
from orderstream.order.state import Order


def overdue(state: Order, now: datetime, message_id: str) -> StepDeadlinePassed | None:
    """The command to send for an order whose awaited step is past its deadline, if any.

    `message_id` should be derived from (order id, step, attempt) so a scan that runs twice
    sends the same message; the order ignores it anyway once the attempt has moved on."""
    if state.step is None or state.deadline is None or now < state.deadline:
        return None
    return StepDeadlinePassed.new(message_id=message_id, occurred_at=now,
                                  correlation_id=state.order_id, order_id=state.order_id,
                                  step=state.step, attempt=state.attempt, now=now)
