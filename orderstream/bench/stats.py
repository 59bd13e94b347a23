"""The arithmetic of a bench run, pure: percentiles, Kafka messages per order from two
end-offset snapshots, CPU time from /proc/<pid>/stat, the open-loop schedule and the relay's
filler records."""

import math
from collections.abc import Mapping, Sequence

Offsets = Mapping[str, int]
"""A snapshot: topic -> sum of its partitions' end offsets (= records ever written to it)."""


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks (numpy's
    default), so p50 of [1, 2, 3, 4] is 2.5 and p100 is the maximum."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max in milliseconds; empty when nothing completed."""
    if not seconds:
        return {}
    return {name: round(percentile(seconds, q) * 1000, 1)
            for name, q in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))}


def written(before: Offsets, after: Offsets) -> dict[str, int]:
    """Records written to each topic between two snapshots (topics with none left out). A topic
    created in between counts from 0; one deleted in between is left out."""
    counts = {topic: end - before.get(topic, 0) for topic, end in after.items()}
    return {topic: n for topic, n in counts.items() if n > 0}


def per_order(counts: Mapping[str, int], orders: int) -> dict[str, float]:
    """Records per order for each topic, the largest share first."""
    if orders <= 0:
        return {}
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {topic: n / orders for topic, n in ranked}


def cpu_ticks(stat: str) -> int:
    """utime + stime (clock ticks) from the text of /proc/<pid>/stat. The command name (field 2)
    may hold spaces and parentheses, so fields are counted from its closing parenthesis: state
    is field 3, utime field 14, stime field 15."""
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_ms_per(before: Mapping[str, int], after: Mapping[str, int], ticks_per_second: int,
               per: float) -> dict[str, float]:
    """Milliseconds of CPU per order (or per second: `per` is the count of either) for each
    process seen in both snapshots, plus `total`."""
    if per <= 0:
        return {}
    ms = {name: (after[name] - before[name]) * 1000 / ticks_per_second / per
          for name in after if name in before}
    return ms | {"total": sum(ms.values())}


def schedule(rate: float, duration: float) -> list[float]:
    """Open loop: the start time (seconds from the run's start) of every order offered at
    `rate` per second for `duration` seconds — fixed in advance, whatever the completions."""
    if rate <= 0 or duration <= 0:
        raise ValueError("open loop needs a positive rate and duration")
    return [k / rate for k in range(math.ceil(rate * duration - 1e-9))]


def fillers(messages_per_order: int, hops: int) -> list[int]:
    """Filler records each relay hop writes so that an order costs `messages_per_order` records
    in all: the token enters once and each of the `hops` hops forwards it once; the rest is
    spread evenly, earlier hops taking the remainder."""
    if hops < 1:
        raise ValueError("the relay needs at least one hop")
    extra = max(messages_per_order - (hops + 1), 0)
    return [extra // hops + (1 if i < extra % hops else 0) for i in range(hops)]
