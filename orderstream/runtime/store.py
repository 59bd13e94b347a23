"""Aggregate state in Faust tables (RocksDB + changelog): one row per aggregate, and one row per
entry of a field that grows with history (`domain.Entries`, e.g. a product's holds), so an actor
loads and stores as much on its millionth order as on its first, and no row outgrows a Kafka
message.

Entries live in the aggregate's own table, keyed `<aggregate id>\x1f<entry key>` (ids hold no
control characters), so an entry and its aggregate's row go to one changelog partition, in the
order written: the entries of a step first, then the row. A crash keeps some prefix of those
records; the redelivered step then finds one of three things, and each is put right:
- nothing of the step: it is decided again;
- everything: it is decided again and answered with the original outcome (the deciders' rule);
- entries but not the row: an entry remembers the offset it was written at and its value before
  (`at`, `was`); one written after the row's last applied offset is ahead of the row, so it is
  read as it was, and the step is decided again on a consistent state.
(With the row but not its entries, a step would count twice; the write order rules it out.)

A row also remembers the ids of the last SEEN messages the aggregate applied, with the offset
each came at (a JSON line before the state's JSON): the runtime answers a message seen before at
another offset (a duplicate POST, a replayed segment) with nothing, while a redelivery of the
very same record after a crash is decided again, so that its events reach Kafka after all.

An aggregate that wants to be woken up (`Decider.wakes`, e.g. an order whose saga step has a
deadline) names the state field that says when. The store keeps the wake-up times of this
worker's waiting aggregates in memory, updated on every write, and after a restart or a
rebalance reads them once from the rows of the partitions it now holds: no table of timers, so
no changelog record when an aggregate starts or stops waiting. The rows whose field is null are
passed over on their bytes, unparsed.
"""

import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Generic, get_args

from pydantic import BaseModel, TypeAdapter

from orderstream.domain import Decider, S

log = logging.getLogger(__name__)
SEEN = 16
Seen = dict[str, int]  # message id -> offset of the command record it was applied from
SEP = "\x1f"  # between an aggregate id and an entry key


class AggregateStore(Generic[S]):
    def __init__(self, app: Any, decider: Decider[S], partitions: int):
        self.decider = decider
        self.rows = app.Table(decider.name, partitions=partitions, key_type=bytes,
                              value_type=bytes)  # bytes: the raw codec
        self.entry = (TypeAdapter(get_args(decider.state.model_fields[decider.entries.field].annotation)[1])
                      if decider.entries else None)  # the type of one entry, e.g. Hold
        self.wake: dict[str, datetime] = {}  # deadlines of waiting aggregates known in memory
        self.listed = False  # does `wake` hold every waiting aggregate of this worker's rows?
        self.idle = f'"{decider.wakes}":null'.encode() if decider.wakes else None  # a row not waiting

    def get(self, key: str) -> S | None:
        """The aggregate's row (without its entries), as a view reads it."""
        return self.read(key)[0]

    def read(self, key: str) -> tuple[S | None, Seen]:
        seen, state = self._split(key)
        return (self.decider.state.model_validate_json(state) if state else None), json.loads(seen)

    def _split(self, key: str) -> tuple[bytes, bytes]:
        """A row's two parts: the ids it applied last (JSON), and the state (JSON)."""
        raw = self.rows.get(key)
        if not raw:
            return b"{}", b""
        seen, newline, state = raw.partition(b"\n")
        return (seen, state) if newline else (b"{}", raw)  # a row from before rows had ids

    def statuses(self, partition: int) -> Iterator[str | None]:
        """The status of each row on a partition this worker holds, read once for the census
        (runtime/metrics.py) when the worker gets the partition."""
        store = self.rows.data
        db = store._dbs.get(partition)
        for key, raw in store._visible_items(db) if db is not None else ():
            if SEP.encode() in key:  # an entry, not a row
                continue
            seen, newline, state = raw.partition(b"\n")
            yield json.loads(state if newline else raw).get("status")

    def load(self, key: str, message: BaseModel) -> tuple[S, Seen]:
        """The state `message` is decided on: the row plus the one entry the message names; and
        the ids of the messages applied last."""
        state, seen = self.read(key)
        state = self.decider.initial(key) if state is None else state
        return self.with_entry(key, state, message, seen), seen

    def with_entry(self, key: str, state: S, message: BaseModel, seen: Seen) -> S:
        """`state` with the entry `message` names added from its row, unless it holds it already."""
        spec = self.decider.entries
        name = spec.key(message) if spec else None
        if name is None or name in getattr(state, spec.field):
            return state
        found = self._entry(key, name, applied(seen))
        if found is None:
            return state
        return state.model_copy(update={spec.field: {**getattr(state, spec.field),
                                                     name: self.entry.validate_python(
                                                         found, strict=False)}})  # dates as text

    def _entry(self, key: str, name: str, applied_offset: int) -> Any:
        """An entry's value as of the row's last applied offset: one written later (by a step
        whose row was lost) is read as it was before."""
        raw = self.rows.get(f"{key}{SEP}{name}")
        if raw is None:
            return None
        entry = json.loads(raw)
        return entry["was"] if entry["at"] > applied_offset else entry["v"]

    def store(self, key: str, state: S, seen: Seen | None = None) -> None:
        """The entries that changed, then the row (see the module's note on the order)."""
        seen = dict(list((seen or {}).items())[-SEEN:])
        spec = self.decider.entries
        if spec:
            before = applied(json.loads(self._split(key)[0]))
            for name, value in getattr(state, spec.field).items():
                current, was = self.entry.dump_python(value, mode="json"), self._entry(key, name, before)
                if current != was:
                    self.rows[f"{key}{SEP}{name}"] = json.dumps(
                        {"at": applied(seen), "was": was, "v": current}, separators=(",", ":")).encode()
            state = state.model_copy(update={spec.field: {}})
        recent = json.dumps(seen, separators=(",", ":"))
        self.rows[key] = recent.encode() + b"\n" + state.model_dump_json().encode()
        if self.idle is not None:
            if (at := getattr(state, self.decider.wakes)) is not None:
                self.wake[key] = at
            else:
                self.wake.pop(key, None)

    def forget(self) -> None:
        """Partitions moved (a rebalance): what `wake` holds may be another replica's, and rows
        it knows may have been written since by that replica. Forget it; `due` lists again."""
        self.wake.clear()
        self.listed = False

    def due(self, now: datetime) -> list[str]:
        """Aggregates whose wake-up time has come, among those this worker holds. Call it only
        with the tables recovered: the first call after `forget` reads the rows."""
        if not self.listed:
            for raw_key, raw in self.rows.items():  # no await: no write comes in between
                key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
                if self.idle in raw or SEP in key or key in self.wake:
                    continue
                state = json.loads(raw.partition(b"\n")[2] or raw)
                if (at := state.get(self.decider.wakes)) is not None:
                    self.wake[key] = datetime.fromisoformat(at)
            self.listed = True
            log.info("%s: %d waiting after the rebalance", self.decider.name, len(self.wake))
        return [key for key, at in self.wake.items() if at <= now]


def applied(seen: Seen) -> int:
    """The last offset the row took a message from (-1: none it remembers)."""
    return max(seen.values(), default=-1)
