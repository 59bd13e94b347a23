"""Each context's Kafka user and its ACLs, made from topics/topics.toml (no broker needed)."""

import pytest

from orderstream.runtime.acls import Acl, Need, acls_for, needs
from orderstream.runtime.topics import read_spec
from orderstream.settings import CONTEXTS, Settings

SPEC = read_spec()["contexts"]


def topics(settings: Settings, context: str, operation: str) -> set[str]:
    return {n.name for n in needs(settings, context) if n.resource == "topic" and n.operation == operation}


def test_each_context_has_its_own_user_named_by_a_rule():
    assert Settings().kafka_user("payment") == "orderstream-payment"
    assert Settings(namespace="shop").kafka_user("payment") == "shop.orderstream-payment"
    assert Settings(namespace="shop", kafka_user_prefix="svc-").kafka_user("payment") == "shop.svc-payment"
    principals = {acl.principal for acl in acls_for(Settings(namespace="shop"))}
    assert principals == {f"User:shop.orderstream-{context}" for context in CONTEXTS}


@pytest.mark.parametrize("mode", ["orchestration", "choreography"])
@pytest.mark.parametrize("context", CONTEXTS)
def test_a_context_writes_only_what_it_owns_or_sends_to(context, mode):
    settings = Settings(namespace="ns", saga_mode=mode)
    app = f"ns.orderstream-{context}"
    own = {f"ns.{context}.{kind}" for kind in ("commands", "events", "deadletter")}
    changelogs = {f"{app}-{table}-changelog" for table in SPEC[context]["tables"]}
    sent = {f"ns.{target}.commands" for target in SPEC[context]["sends"][mode]}
    assert topics(settings, context, "write") == own | changelogs | sent
    consumed = {f"ns.{topic}" for topic in SPEC[context]["consumes"]}
    leader = f"{app}-__assignor-__leader"
    assert topics(settings, context, "read") == {f"ns.{context}.commands", leader} | changelogs | consumed
    assert topics(settings, context, "create") == {leader}  # Faust makes it; every other topic: `topics apply`
    groups = {n.name for n in needs(settings, context) if n.resource == "group"}
    assert groups == {app}


def test_the_shipment_user_may_write_payment_commands_only_in_choreography():
    orchestration = Settings(saga_mode="orchestration")
    assert "payment.commands" not in topics(orchestration, "shipment", "write")
    assert "payment.commands" in topics(Settings(saga_mode="choreography"), "shipment", "write")


def test_only_the_order_reads_other_contexts_event_logs():
    settings = Settings()
    for context in CONTEXTS:
        foreign = {t for t in topics(settings, context, "read")
                   if t.endswith(".events") and t != f"{context}.events"}
        assert foreign == (set() if context != "order" else {f"{c}.events" for c in CONTEXTS} - {"order.events"})


def test_exactly_once_adds_the_contexts_transactional_ids_only():
    plain = set(needs(Settings(), "order"))
    exactly_once = set(needs(Settings(processing_guarantee="exactly_once"), "order"))
    assert exactly_once - plain == {Need("transactional_id", "orderstream-order-", op, "prefixed")
                                    for op in ("describe", "write")}


def test_every_acl_reads_as_a_sentence():
    acl = Acl("User:orderstream-shipment", Need("topic", "order.commands", "write"))
    assert str(acl) == "User:orderstream-shipment may WRITE topic order.commands"
    assert str(Need("transactional_id", "orderstream-order-", "write", "prefixed")) == \
        "WRITE transactional_id orderstream-order-*"
