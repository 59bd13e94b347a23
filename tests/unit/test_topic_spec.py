"""topics/ against the code: the message lists in topics.toml, the tables, and the generated
JSON Schemas in topics/schemas (no broker needed)."""

import json
from dataclasses import dataclass, field

import pytest
from jsonschema import Draft202012Validator

from orderstream.contracts import MESSAGES
from orderstream.contracts.account import CreditAccount, OpenAccount
from orderstream.contracts.catalog import RegisterProduct, ReservationReleased
from orderstream.contracts.ids import shipment_id_for
from orderstream.contracts.order import CancelOrder, CreateOrder, RequestReturn, SagaPolicy
from orderstream.contracts.shipment import UpdateShipmentStatus
from orderstream.runtime import schemas
from orderstream.runtime.topics import read_spec
from orderstream.contracts.routes import REPLIES
from orderstream.local.simulate import CONTEXTS, Ports, Simulation

from builders import ADDRESS, CARD_REF, line, msg

SPEC = read_spec()
FIX = "run `orderstream topics schemas` and commit topics/schemas"


def accepted(context: str) -> set[str]:
    """Everything the context's deciders accept: what can appear on `<context>.commands`."""
    return {cls.__name__ for d in CONTEXTS[context].DECIDERS for cls in d.commands}


def emitted(context: str) -> set[str]:
    """What the context's deciders can emit, from the contracts: every message of this context
    that none of its deciders accepts as a command. A reply a decider of the same context
    consumes (catalog's StockChecked, ProductReserved, ProductUnavailable: emitted by
    `products`, consumed by `reservations`) is still an event of the context."""
    commands = {cls.__name__ for d in CONTEXTS[context].DECIDERS for cls in d.commands
                if cls not in REPLIES}
    return {name for name, cls in MESSAGES.items() if cls.context == context} - commands


def test_the_spec_declares_every_context_of_the_code():
    assert list(SPEC["contexts"]) == list(CONTEXTS)


@pytest.mark.parametrize("context", CONTEXTS)
def test_the_commands_list_is_what_the_deciders_accept(context):
    listed = SPEC["contexts"][context]["commands"]
    assert listed == sorted(listed), f"topics.toml: {context}.commands: keep the list sorted"
    want = accepted(context)
    assert set(listed) == want, (f"topics.toml [contexts.{context}] commands: missing "
                                 f"{sorted(want - set(listed))}, not accepted by its deciders "
                                 f"{sorted(set(listed) - want)}")


@pytest.mark.parametrize("context", CONTEXTS)
def test_the_events_list_is_what_the_deciders_can_emit(context):
    listed = SPEC["contexts"][context]["events"]
    assert listed == sorted(listed), f"topics.toml: {context}.events: keep the list sorted"
    want = emitted(context)
    assert set(listed) == want, (f"topics.toml [contexts.{context}] events: missing "
                                 f"{sorted(want - set(listed))}, not emitted by its deciders "
                                 f"{sorted(set(listed) - want)}")


def test_every_message_type_is_on_some_topic():
    on_topics = {name for ctx in SPEC["contexts"].values()
                 for name in ctx["commands"] + ctx["events"]}
    assert set(MESSAGES) - on_topics == set()


@pytest.mark.parametrize("context", CONTEXTS)
def test_the_tables_are_the_deciders(context):
    assert SPEC["contexts"][context]["tables"] == [d.name for d in CONTEXTS[context].DECIDERS]


@pytest.mark.parametrize("context", CONTEXTS)
def test_keys_are_described_and_consumes_names_events_topics(context):
    ctx = SPEC["contexts"][context]
    assert ctx["commands_key"] and ctx["events_key"]
    events_topics = {f"{c}.events" for c in CONTEXTS}
    assert set(ctx["consumes"]) <= events_topics, \
        "a worker reads only events topics beside its own commands topic"


def test_the_schema_files_are_up_to_date():
    directory = schemas.schema_dir()
    on_disk = {p.name: p.read_text() for p in directory.glob("*.json")}
    fresh = schemas.generate(SPEC)
    assert sorted(on_disk) == sorted(fresh), f"topics/schemas has other files than the spec: {FIX}"
    stale = [name for name in fresh if on_disk[name] != fresh[name]]
    assert not stale, f"topics/schemas out of date ({', '.join(stale)}): {FIX}"


def test_a_schema_is_one_of_the_listed_types():
    schema = json.loads(schemas.generate(SPEC)["payment.commands.json"])
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["discriminator"]["propertyName"] == "type"
    assert [ref["$ref"].rsplit("/", 1)[1] for ref in schema["oneOf"]] == \
        SPEC["contexts"]["payment"]["commands"]


# --- sample messages against their topic's schema --------------------------------------------
VALIDATORS = {name[:-len(".json")]: Draft202012Validator(json.loads(text))
              for name, text in schemas.generate(SPEC).items()}


def errors(topic: str, message) -> list[str]:
    wire = json.loads(message.model_dump_json()) if not isinstance(message, dict) else message
    return [e.message for e in VALIDATORS[topic].iter_errors(wire)]


@dataclass
class Recording(Simulation):
    """The in-memory system, remembering which commands topic delivered each message."""
    delivered: list[tuple[str, object]] = field(default_factory=list)

    def _handle(self, decider, key, message):
        context = next(c for c, m in CONTEXTS.items() if decider in m.DECIDERS)
        self.delivered.append((f"{context}.commands", message))
        super()._handle(decider, key, message)


def traffic(mode: str, **kw) -> Recording:
    sim = Recording(mode=mode, **kw)
    sim.send(msg(RegisterProduct, product_id="p1", sku="S1", name="W", price=500, currency="EUR",
                 on_hand=5),
             msg(OpenAccount, account_id="a1", customer_id="c1", currency="EUR"),
             msg(CreditAccount, account_id="a1", amount=10_000, currency="EUR", reason="top-up",
                 credit_id="t1")).run()
    sim.send(msg(CreateOrder, order_id="o1", customer_id="c1", account_id="a1",
                 items=(line("p1", 2),), shipping_address=ADDRESS,
                 policy=SagaPolicy(mode=mode))).run()
    for status in ("dispatched", "delivered"):
        sim.send(msg(UpdateShipmentStatus, shipment_id=shipment_id_for("o1"), status=status)).run()
    sim.send(msg(RequestReturn, order_id="o1", reason="broken")).run()
    sim.send(msg(CreateOrder, order_id="o2", customer_id="c1", account_id="a1",
                 items=(line("p1", 99),), shipping_address=ADDRESS,
                 policy=SagaPolicy(mode=mode))).run()  # out of stock
    sim.send(msg(CreateOrder, order_id="o3", customer_id="c1", account_id="a1",
                 items=(line("p1", 1),), shipping_address=ADDRESS,
                 payment_method="card", card_ref=CARD_REF, policy=SagaPolicy(mode=mode))).run()
    sim.send(msg(CancelOrder, order_id="o3", reason="changed my mind")).run()  # compensation
    return sim


@pytest.mark.parametrize("mode", ["orchestration", "choreography"])
def test_every_message_of_a_run_validates_against_its_topic(mode):
    sim = traffic(mode, ports=Ports())
    published = [(f"{event.context}.events", event) for event in sim.events]
    problems = [(topic, m.type, errors(topic, m)) for topic, m in sim.delivered + published
                if errors(topic, m)]
    assert problems == []
    assert len({m.type for _, m in sim.delivered + published}) > 40  # the run covers a lot


def test_a_message_on_the_wrong_topic_or_malformed_is_rejected():
    order = msg(CreateOrder, order_id="o1", customer_id="c1", account_id="a1",
                items=(line("p1", 2),), shipping_address=ADDRESS)
    assert errors("order.commands", order) == []
    assert errors("catalog.commands", order)  # not a catalog command
    assert errors("order.events", order)  # a command is not an event
    wire = json.loads(order.model_dump_json())
    assert errors("order.commands", wire | {"surprise": 1})  # extra="forbid"
    assert errors("order.commands", {k: v for k, v in wire.items() if k != "type"})
    assert errors("order.commands", wire | {"items": []})  # 1..100 lines
    released = msg(ReservationReleased, order_id="o1", reservation_id="r1", items=(),
                   reason="cancelled")  # released before anything was held: no lines
    assert errors("catalog.events", released) == []


# --- who writes which commands topic: `sends`, from which each context's ACLs are made ---------
def sends_seen(mode: str) -> dict[str, set[str]]:
    """The other contexts' commands topics each context wrote in runs through every saga path
    (happy, return, out of stock, declined, refused, cancel, timeouts), plus every reply route."""
    runs = [traffic(mode, ports=Ports()), traffic(mode, ports=Ports(gateway_approves=False)),
            traffic(mode, ports=Ports(carrier_accepts=False)), timed_out(mode)]
    seen: dict[str, set[str]] = {context: set() for context in CONTEXTS}
    for sim in runs:
        emitted_by = {event.message_id: event.context for event in sim.events}
        for topic, message in sim.delivered:
            sender = emitted_by.get(message.message_id) or emitted_by.get(message.causation_id)
            if sender is not None:  # None: sent from the edge (HTTP), always to its own context
                seen[sender].add(topic.split(".")[0])
    for cls, (consumer, _) in REPLIES.items():
        seen[cls.context].add(consumer)
    return {context: targets - {context} for context, targets in seen.items()}


def timed_out(mode: str) -> Recording:
    sim = traffic(mode, ports=Ports(), hold=lambda m: m.type in ("ProcessPayment", "ChargePayment"))
    for order_id in ("o1", "o3"):
        while (state := sim.state("orders", order_id)) is not None and state.deadline is not None:
            sim.expire(order_id, state.deadline)
    return sim.release_held()


@pytest.mark.parametrize("mode", ["orchestration", "choreography"])
def test_sends_lists_exactly_the_commands_topics_each_context_writes(mode):
    seen = sends_seen(mode)
    declared = {context: set(spec["sends"][mode]) for context, spec in SPEC["contexts"].items()}
    assert declared == seen, (f"topics.toml `sends.{mode}` differs from the code: declared {declared}, "
                              f"the code sends {seen}")
    assert all(spec["sends"][mode] == sorted(spec["sends"][mode]) for spec in SPEC["contexts"].values())


def test_in_orchestration_shipment_sends_only_to_the_order():
    assert SPEC["contexts"]["shipment"]["sends"]["orchestration"] == ["order"]
    assert "payment" in SPEC["contexts"]["shipment"]["sends"]["choreography"]  # RefundPayment on failure
