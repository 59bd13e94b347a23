"""Faust's table manager, mended so a standby table never misses changelog records
(faust-streaming #212 is the same loss, seen on global tables).

Changelog records wait in one queue between the consumer and table recovery. Faust empties
that queue whenever it resumes the flow. Mostly a seek follows, and the records are read again.
Once nothing does: when recovery completes, after the standby partitions were sought and
resumed. The records the standbys had fetched by then were dropped and the consumer read on
past them. A standby promoted later answered from a table without those rows: payments with no
terms, failed while their money was taken (README, "Bugs the chaos runs found", bug 11).

Here, whenever the queue is emptied, each changelog partition that recovery reads is fetched
again from the record after the last one it applied.
"""

from typing import Any, Callable

from faust.exceptions import ConsumerNotStarted
from faust.tables import TableManager as FaustTableManager
from faust.types import TP
from mode.utils.queues import ThrowableQueue


class ChangelogQueue(ThrowableQueue):
    def __init__(self, *args: Any, refetch: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refetch = refetch

    def clear(self) -> None:
        super().clear()
        self.refetch()


class TableManager(FaustTableManager):
    @property
    def changelog_queue(self) -> ThrowableQueue:
        if self._changelog_queue is None:
            self._changelog_queue = ChangelogQueue(
                maxsize=self.app.conf.stream_buffer_maxsize, flow_control=self.app.flow_control,
                clear_on_resume=True, refetch=self.refetch)
        return self._changelog_queue

    def refetch(self) -> None:
        """Read each changelog partition again from the record after the last one applied
        (recovery's offsets: -1 before the first, None before recovery has looked)."""
        recovery = self.recovery
        applied: dict[TP, int | None] = {
            **{tp: recovery.standby_offsets.get(tp) for tp in recovery.standby_tps},
            **{tp: recovery.active_offsets.get(tp) for tp in recovery.active_tps}}
        try:
            self.app.consumer.refetch({tp: offset + 1 for tp, offset in applied.items()
                                       if offset is not None})
        except ConsumerNotStarted:
            pass  # nothing fetched yet
