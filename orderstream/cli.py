"""`orderstream ...`: run workers, manage topics, run Kafka and the whole system locally."""

import argparse
import asyncio
import importlib
import subprocess
import sys
from collections.abc import Callable

from aiokafka.errors import KafkaConnectionError

from orderstream.settings import CONTEXTS, load


SECURE_PORT = 9192


def kafka(args: argparse.Namespace) -> int:
    from orderstream.local import stack

    if args.secure:
        broker = stack.Broker(stack.VAR / "kafka-secure", args.port or SECURE_PORT, secure=True)
    else:
        broker = stack.broker() if args.port is None else stack.Broker(stack.VAR / "kafka", args.port)
    if args.action in ("users", "rotate") and not broker.secure:
        print(f"orderstream kafka {args.action}: only for the secure broker (--secure)", file=sys.stderr)
        return 2
    if args.action == "rotate":
        if len(args.users) != 1:
            print("usage: orderstream kafka rotate --secure USER", file=sys.stderr)
            return 2
        print(broker.rotate(args.users[0]))
        return 0
    if args.action != "users":
        print(getattr(broker, args.action)())
    if broker.secure and args.action in ("start", "users"):
        users = args.users or [load().kafka_user(context) for context in CONTEXTS]
        print("\n".join(broker.add_users(users)))
    return 0


def kafka_tool(argv: list[str]) -> int:
    """`orderstream kafka tool NAME ARGS...`: a Kafka console tool; ARGS are the tool's own."""
    from orderstream.local import stack
    from orderstream.local.kafka import TOOLS

    if not argv or argv[0] not in TOOLS:
        print(f"usage: orderstream kafka tool {{{','.join(TOOLS)}}} [tool arguments]", file=sys.stderr)
        return 2
    return subprocess.call(stack.broker().tool(argv[0], *argv[1:]))


def topics(args: argparse.Namespace) -> int:
    from orderstream.runtime import topics as spec

    if args.action == "schemas":
        from orderstream.runtime import schemas

        changes = schemas.write()
        print("\n".join(changes) if changes else "topic schemas: up to date")
        return 0
    settings = load()
    if args.action == "list":
        for t in spec.topics_for(settings):
            print(f"{t.name:<48} {t.kind:<10} owner={t.owner:<9} consumers={','.join(t.consumers)}")
        return 0
    if args.action == "apply":
        changes = asyncio.run(spec.apply(settings))
        print("\n".join(changes) if changes else "topics: up to date")
        return 0
    from orderstream.runtime import acls

    problems = asyncio.run(spec.check(settings)) + asyncio.run(acls.drift(settings))
    print("\n".join(problems) if problems else "topics and ACLs: match the spec")
    return 1 if problems else 0


def worker(args: argparse.Namespace) -> int:
    from orderstream.runtime.acls import AccessError, check_access

    settings = load()
    try:  # a refused login or a missing ACL stops the worker here, in one line
        asyncio.run(check_access(settings, args.context))
    except AccessError as error:
        print(error, file=sys.stderr)
        return 3
    from orderstream.runtime.app import open_datadir, stopped_cleanly

    datadir = settings.datadir / args.context
    open_datadir(datadir)
    module = importlib.import_module(f"orderstream.{args.context}.app")
    level = {"warning": "warn"}.get(settings.log_level, settings.log_level)  # Faust's own spelling
    sys.argv = [f"orderstream-{args.context}", "worker", "--loglevel", level]
    try:
        module.app.main()
    except SystemExit as stop:
        if stop.code in (0, None):
            stopped_cleanly(datadir)
        raise
    stopped_cleanly(datadir)
    return 0


def simulator(args: argparse.Namespace) -> int:
    from orderstream import simulator as sim

    return sim.main(args.rest) or 0


def up(args: argparse.Namespace) -> int:
    from orderstream.local import stack

    return stack.up(load())


def down(args: argparse.Namespace) -> int:
    from orderstream.local import stack

    return stack.down()


def bench(args: argparse.Namespace) -> int:
    from orderstream.bench import report
    from orderstream.bench.run import Options, bench as run

    options = Options(workload=args.workload, orders=args.orders, concurrency=args.concurrency, rate=args.rate,
                      duration=args.duration, drain=args.drain, products=args.products, customers=args.customers,
                      seed=args.seed, warmup=args.warmup, host=args.host, baseline=args.baseline,
                      relay_hops=args.relay_hops, relay_compare=args.relay_compare, progress=args.progress)
    result = asyncio.run(run(options, load(), load_token()))
    print(report.table(result), file=sys.stderr if args.json == "-" else sys.stdout)
    if args.json:
        report.write_json(result, args.json)
    if args.plot:
        report.plot(result, args.plot)
    return 0


def trace(args: argparse.Namespace) -> int:
    """An order's spans from the file ORDERSTREAM_TRACING=file writes, as a tree."""
    from pathlib import Path

    from orderstream.runtime.codec import order_trace_id
    from orderstream.runtime.tracing import read_spans

    wanted, path = f"{order_trace_id(args.order_id):032x}", Path(args.file or load().tracing_file)
    spans = [s for s in read_spans(path) if s["trace_id"] == wanted] if path.exists() else []
    print(f"trace {wanted}: {len(spans)} spans in {path}")
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict]] = {}
    for span in sorted(spans, key=lambda s: s["start"]):
        children.setdefault(span["parent_id"] if span["parent_id"] in ids else None, []).append(span)
    todo = [(span, 0) for span in reversed(children.get(None, []))]
    while todo:
        span, depth = todo.pop()
        a = span["attributes"]
        told = ", ".join(a.get("orderstream.events", []) + a.get("orderstream.commands", []))
        print(f"{'  ' * depth}{span['name']}  {(span['end'] - span['start']) / 1e6:.1f} ms  "
              f"{a.get('orderstream.outcome', '')}{' -> ' + told if told else ''}")
        todo += [(child, depth + 1) for child in reversed(children.get(span["span_id"], []))]
    return 0 if spans else 1


def positive(kind: type) -> "Callable[[str], int | float]":
    def parse(text: str) -> int | float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value
    return parse


def audit(args: argparse.Namespace) -> int:
    from orderstream.local import eventlog

    report = eventlog.audit_system(overrides(args), simulator=args.simulator, settled=args.settled,
                          grace=args.grace, catalog_url=args.catalog_url,
                          account_url=args.account_url)
    print(report.text())
    return 0 if report.ok else 1


def chaos(args: argparse.Namespace) -> int:
    from orderstream.local import chaos as run

    return run.main(args)


def overrides(args: argparse.Namespace):
    """The settings, with --bootstrap/--namespace in place of the environment's."""
    settings = load()
    update = {"kafka_bootstrap_servers": args.bootstrap, "namespace": args.namespace}
    return settings.model_copy(update={k: v for k, v in update.items() if v is not None})


def load_token() -> str | None:
    token = load().api_token
    return token.get_secret_value() if token else None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="orderstream", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    k = sub.add_parser("kafka", help="a local single-node Kafka (KRaft) on 127.0.0.1")
    k.add_argument("action", choices=["start", "stop", "status", "users", "rotate"],
                   help="users/rotate (secure broker only): create the users named (default: one per "
                        "context) / give one user a new password. (Also: `orderstream kafka tool "
                        "console-consumer|console-producer|topics|consumer-groups|get-offsets|configs|acls "
                        "ARGS...`)")
    k.add_argument("users", nargs="*", help="users for `users` and `rotate`; `start --secure` creates "
                                            "these (default: one per context, orderstream-<context>)")
    k.add_argument("--secure", action="store_true",
                   help="the SASL_SSL broker with ACLs in var/kafka-secure (default port 9192); "
                        "credentials in var/kafka-secure/credentials/<user>.env")
    k.add_argument("--port", type=int, default=None,
                   help="broker port (default 9092 or ORDERSTREAM_KAFKA_PORT; 9192 with --secure)")
    k.set_defaults(func=kafka)
    t = sub.add_parser("topics", help="create/update (apply), check or list the topics in topics/; "
                                      "write their JSON Schemas to topics/schemas (schemas)")
    t.add_argument("action", choices=["apply", "check", "list", "schemas"])
    t.set_defaults(func=topics)
    w = sub.add_parser("worker", help="run one bounded context's worker")
    w.add_argument("context", choices=CONTEXTS)
    w.set_defaults(func=worker)
    s = sub.add_parser("simulator", help="the payment gateway / carrier simulator")
    s.add_argument("rest", nargs=argparse.REMAINDER)
    s.set_defaults(func=simulator)
    b = sub.add_parser("bench", help="place orders against a running system (`make up`); report throughput, "
                                      "latency, Kafka records and CPU per order, against a raw Kafka relay")
    b.add_argument("--workload", choices=["hot", "spread"], default="hot",
                   help="hot: one product, one customer; spread: many of each, 1-3 lines per order")
    b.add_argument("--orders", type=positive(int), default=200, help="closed loop: orders to place")
    b.add_argument("--concurrency", type=positive(int), default=20,
                   help="closed loop and the relay baseline: orders in flight")
    b.add_argument("--rate", type=positive(float), default=None, help="open loop: orders started per second")
    b.add_argument("--duration", type=positive(float), default=60.0, help="open loop: seconds of offered load")
    b.add_argument("--drain", type=float, default=30.0, help="open loop: seconds to wait for the rest after")
    b.add_argument("--products", type=int, default=200, help="spread: products")
    b.add_argument("--customers", type=int, default=100, help="spread: customers (one account each)")
    b.add_argument("--seed", type=int, default=1, help="random seed of the orders drawn")
    b.add_argument("--warmup", type=int, default=5, help="orders placed before measuring")
    b.add_argument("--host", default="127.0.0.1")
    b.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                   help="also run the raw aiokafka relay chain with as many records per order")
    b.add_argument("--relay-hops", type=positive(int), default=17, help="hops of the relay chain")
    b.add_argument("--relay-compare", type=int, default=25, help="also relay at this many records/order (0: no)")
    b.add_argument("--json", metavar="FILE", help="write the full result as JSON ('-': stdout)")
    b.add_argument("--plot", metavar="FILE", help="latency over time and histogram: .png, .svg or .html")
    b.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    b.set_defaults(func=bench)
    a = sub.add_parser("audit", help="read every topic from its start and check the books: orders "
                                     "settled, money, stock, dead letters; exit 1 on a violation")
    a.add_argument("--bootstrap", help="brokers (default: ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS)")
    a.add_argument("--namespace", help="topic prefix (default: ORDERSTREAM_NAMESPACE)")
    a.add_argument("--simulator", help="URL of the gateway/carrier simulator: card money and "
                                       "labels are checked against its books too")
    a.add_argument("--catalog-url", help="a catalog worker: each product's row is checked too")
    a.add_argument("--account-url", help="an account worker: each account's row is checked too")
    a.add_argument("--settled", action="store_true",
                   help="the system is quiet: every order must be settled")
    a.add_argument("--grace", type=float, default=30.0,
                   help="seconds past an order's deadline and retries before it counts as stuck")
    a.set_defaults(func=audit)
    c = sub.add_parser("chaos", help="start a system of its own, drive orders through it while "
                                     "faults are injected, wait until it is quiet, audit it")
    c.add_argument("--orders", type=int, default=1000)
    c.add_argument("--mode", choices=["orchestration", "choreography"], default="orchestration")
    c.add_argument("--seconds", type=float, default=90.0,
                   help="how long orders are placed (faults are spread over this window)")
    c.add_argument("--settle-seconds", type=float, default=240.0,
                   help="how long to wait for quiescence before auditing anyway")
    c.add_argument("--faults", default="all",
                   help="comma-separated fault kinds, or 'all' or 'none' (see orderstream/local/chaos.py)")
    c.add_argument("--kafka-port", type=int, default=None,
                   help="start (and restart) a broker of its own on this port (controller: port+1)")
    c.add_argument("--bootstrap", help="use this running broker instead (no broker restart fault)")
    c.add_argument("--broker-home", help="state directory of the broker on --kafka-port "
                                         "(default var/chaos-kafka-<port>)")
    c.add_argument("--namespace", help="topic prefix (default: chaos-<random>)")
    c.add_argument("--workdir", help="where logs and RocksDB data go (default var/chaos/<namespace>)")
    c.add_argument("--seed", type=int, default=7)
    c.add_argument("--broker-anytime", action="store_true",
                   help="restart the broker on schedule even while a worker is still joining "
                        "(loses commands today: see README, known bugs)")
    c.add_argument("--log-level", choices=["error", "info", "debug"], default="error",
                   help="the workers' log level (their logs are in the work directory)")
    c.add_argument("--json", help="also write the result as JSON to this file")
    c.add_argument("action", nargs="?", choices=["run", "recovery"], default="run",
                   help="run: the chaos run and its audit; recovery: measure failover with a "
                        "standby and changelog recovery without one")
    c.add_argument("--aggregates", type=int, default=20_000,
                   help="recovery: rows to fill a table with before timing its recovery")
    c.set_defaults(func=chaos)
    tr = sub.add_parser("trace", help="print an order's trace from the file that ORDERSTREAM_TRACING=file writes")
    tr.add_argument("order_id")
    tr.add_argument("--file", help="the spans file (default ORDERSTREAM_TRACING_FILE, var/traces.jsonl)")
    tr.set_defaults(func=trace)
    sub.add_parser("up", help="run everything locally in the background").set_defaults(func=up)
    sub.add_parser("down", help="stop everything `up` started").set_defaults(func=down)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["simulator"]:  # its options are the simulator's own
        return simulator(argparse.Namespace(rest=argv[1:]))
    if argv[:2] == ["kafka", "tool"]:
        return kafka_tool(argv[2:])
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except KafkaConnectionError as error:
        print(f"orderstream: cannot reach Kafka at {load().kafka_bootstrap_servers} ({error}); "
              "is it running? (orderstream kafka start)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
