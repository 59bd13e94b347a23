"""What `orderstream bench` prints (a short table), writes (--json) and draws (--plot)."""

import html
import io
import json
from pathlib import Path

TOP_TOPICS = 12


def _row(name: str, r: dict) -> str:
    lat = r["latency_ms"]
    cells = [f"{lat.get(k, float('nan')):>8.0f}" for k in ("p50", "p90", "p99", "max")]
    outcomes = ", ".join(f"{k} {v}" for k, v in r["outcomes"].items())
    return f"{name:<24}{r['orders_per_second']:>9.1f}{''.join(cells)}{r['messages_per_order']:>9.1f}  {outcomes}"


def table(result: dict) -> str:
    loop = (f"open loop, {result['offered_rate']}/s offered for {result['duration']:.0f}s "
            f"({result['orders']} orders; orders/s below: settled within those {result['duration']:.0f}s)"
            if result["mode"] == "open" else
            f"closed loop, {result['orders']} orders, concurrency {result['concurrency']}")
    lines = [f"orderstream bench: workload {result['workload']}, {loop}, saga {result['saga_mode']}", "",
             f"{'':<24}{'orders/s':>9}" + "".join(f"{h + ' ms':>8}" for h in ("p50", "p90", "p99", "max"))
             + f"{'msg/ord':>9}  outcomes",
             _row("orderstream", result)]
    relays = result.get("baseline", [])
    lines += [_row(f"relay {r['hops']} hops, {r['target_messages_per_order']}/ord", r) for r in relays]
    if result["mode"] == "open":
        lines.append(f"unsettled when the schedule ended: {result['unsettled_at_end']}, "
                     f"after {result['options']['drain']:.0f}s more: {result['unsettled_after_drain']}")
    if relays and result["mode"] == "closed":
        lines.append(f"orderstream throughput = {result['ratio_to_relay']:.2f} x the relay's "
                     f"(same broker, {relays[0]['target_messages_per_order']} records/order)")
    elif relays:
        lines.append("(open loop: orderstream's orders/s is what was offered; the relay runs closed loop, "
                     "so compare capacities with a closed-loop run)")
    lines += ["", f"Kafka records per order: {result['messages_per_order']:.1f}"]
    topics = list(result["messages_by_topic"].items())
    lines += [f"  {topic:<48}{share:>8.2f}" for topic, share in topics[:TOP_TOPICS]]
    if len(topics) > TOP_TOPICS:
        lines.append(f"  {f'{len(topics) - TOP_TOPICS} more topics':<48}"
                     f"{sum(s for _, s in topics[TOP_TOPICS:]):>8.2f}")
    lines += ["", f"CPU ms per order{'idle ms/s':>12}" + "".join(
        f"{'relay ' + str(r['target_messages_per_order']):>12}" for r in relays)]
    idle = result.get("idle_cpu_ms_per_second", {})
    for name, ms in result["cpu_ms_per_order"].items():
        relay = "".join(f"{r['cpu_ms_per_order'].get(name, float('nan')):>12.2f}"
                        if name in ("kafka", "total") else " " * 12 for r in relays)
        lines.append(f"  {name:<14}{ms:>8.2f}{idle.get(name, float('nan')):>10.1f}{relay}")
    if relays:
        lines.append(f"  {'relays':<14}{'':>18}" + "".join(
            f"{sum(v for k, v in r['cpu_ms_per_order'].items() if k.startswith('relay-')):>12.2f}"
            for r in relays))
    lines.append(f"  {'(bench client':<14}{result['client_cpu_ms_per_order']:>8.2f})  "
                 f"it read each order {result.get('reads_per_order', 0)} times (long polls)")
    return "\n".join(lines)


def write_json(result: dict, path: str) -> None:
    text = json.dumps(result, indent=1)
    if path == "-":
        print(text)
    else:
        Path(path).write_text(text + "\n")


def plot(result: dict, path: str) -> None:
    """Latency over the run (a dot per order) and a histogram, orderstream beside the relay;
    .png, .svg, or .html (the SVG inline: one self-contained file)."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("orderstream bench --plot needs matplotlib: pip install 'orderstream[bench]'") from None
    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (over_time, histogram) = pyplot.subplots(1, 2, figsize=(12, 4.5))
    done = [(s, ms) for s, ms, _ in result["latencies"] if ms is not None]
    over_time.scatter([s for s, _ in done], [ms for _, ms in done], s=6, alpha=0.6, label="orderstream")
    over_time.set(xlabel="order started (s into the run)", ylabel="latency ms (placed -> settled)",
                  title="latency over the run")
    series = {"orderstream": [ms for _, ms in done]}
    series |= {f"relay {r['target_messages_per_order']}/order":
               [ms for _, ms, _ in r["latencies"] if ms is not None] for r in result.get("baseline", [])}
    histogram.hist(list(series.values()), bins=40, label=list(series), histtype="stepfilled", alpha=0.5)
    histogram.set(xlabel="latency ms", ylabel="orders", title="latency histogram")
    histogram.legend()
    figure.suptitle(f"orderstream bench: {result['workload']}, {result['mode']} loop, "
                    f"{result['orders_per_second']} orders/s, saga {result['saga_mode']}")
    figure.tight_layout()
    if path.endswith(".html"):
        svg = io.StringIO()
        figure.savefig(svg, format="svg")
        title = html.escape(f"orderstream bench {result['run']}")
        Path(path).write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
                              f"<body>{svg.getvalue()[svg.getvalue().index('<svg'):]}"
                              f"<pre>{html.escape(table(result))}</pre></body></html>\n")
    else:
        figure.savefig(path, dpi=100)
    pyplot.close(figure)
