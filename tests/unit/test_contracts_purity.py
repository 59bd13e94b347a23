import ast
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from orderstream.contracts import MESSAGES, decode
from orderstream.contracts.catalog import ReserveItems
from orderstream.local.simulate import CONTEXTS, decider_for

from builders import line, msg

ROOT = Path(__file__).resolve().parents[2] / "orderstream"
PURE = [*ROOT.glob("contracts/*.py"), *ROOT.glob("saga/*.py"),
        *(ROOT / ctx / "decider.py" for ctx in CONTEXTS),
        *(ROOT / p for p in ("domain.py", "catalog/reservation.py", "order/state.py",
                             "order/replies.py", "order/flow.py", "order/orchestration.py",
                             "order/deadlines.py", "payment/state.py", "payment/refunds.py"))]
FORBIDDEN_MODULES = {"faust", "aiokafka", "aiohttp", "random", "os", "socket", "time",
                     "requests", "httpx"}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "uuid4", "uuid1", "time"}


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_module_is_pure(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in FORBIDDEN_CALLS:
            raise AssertionError(f"{path.name}:{node.lineno} calls .{node.func.attr}()")
        else:
            continue
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN_MODULES, f"{path.name} imports {name}"
            assert not name.endswith(("uuid4", "uuid1")), f"{path.name} imports {name}"


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
            for name in ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""])}


@pytest.mark.parametrize("floor", ["runtime", "saga"])
def test_the_floors_never_import_a_context(floor):
    """runtime/ and saga/ stand under the six contexts: a context's app hands them what they
    need (its deciders, its saga), so no worker loads another context's code through them."""
    for path in (ROOT / floor).glob("*.py"):
        wings = {n for n in imported(path) if n.split(".")[1:2] and n.split(".")[1] in CONTEXTS}
        assert not wings, f"{floor}/{path.name} imports {sorted(wings)}"


@pytest.mark.parametrize("context", CONTEXTS)
def test_no_context_imports_another(context):
    for path in (ROOT / context).glob("*.py"):
        others = {n for n in imported(path)
                  if n.startswith("orderstream.") and n.split(".")[1] in set(CONTEXTS) - {context}}
        assert not others, f"{context}/{path.name} imports {sorted(others)}"


SEED_NAMES = {  # seed name -> class here (see orderstream/contracts/README.md)
    "CreateOrder": "CreateOrder", "OrderCreated": "OrderCreated",
    "UpdateOrderStatus": "UpdateOrderStatus", "CancelOrder": "CancelOrder",
    "ProcessPayment": "ProcessPayment", "PaymentSucceeded": "PaymentSucceeded",
    "PaymentFailed": "PaymentFailed", "RefundPayment": "RefundPayment",
    "PaymentAlreadyProcessed": "PaymentAlreadyProcessed", "ValidateAccount": "ValidateAccount",
    "DebitAccount": "DebitAccount", "CreditAccount": "CreditAccount",
    "AccountDebited": "AccountDebited", "InsufficientFunds": "InsufficientFunds",
    "AccountValid": "AccountValid", "CheckAvailability": "CheckAvailability",
    "ReserveItems": "ReserveItems", "ReleaseReservation": "ReleaseReservation",
    "UpdateStock": "UpdateStock", "ItemsReserved": "ItemsReserved",
    "ItemsUnavailable": "ItemsUnavailable", "ItemsAvailable": "ItemsAvailable",
    "ReservationReleased": "ReservationReleased", "CreateShipment": "CreateShipment",
    "UpdateShipmentStatus": "UpdateShipmentStatus", "ShipmentCreated": "ShipmentCreated",
    "ShipmentDelivered": "ShipmentDelivered", "OrderConfirmed": "OrderConfirmed",
    "OrderCancelled": "OrderCancelled", "ReserveStock": "ReserveItems",
    "StockReserved": "ItemsReserved", "StockReservationFailed": "ItemsUnavailable",
    "ChargePayment": "ChargePayment", "ScheduleShipment": "ScheduleShipment",
    "ShipmentScheduled": "ShipmentCreated", "ShipmentFailed": "ShipmentFailed",
    "ReleaseStock": "ReleaseReservation", "PlaceOrder": "CreateOrder",
    "CheckOrderStatus": "StepDeadlinePassed",
}


def test_every_seed_message_exists_and_is_documented():
    readme = (ROOT / "contracts" / "README.md").read_text()
    for seed, ours in SEED_NAMES.items():
        assert ours in MESSAGES, seed
        assert f"`{seed}`" in readme, seed


def test_every_message_has_its_discriminator_context_and_a_handler_or_emitter():
    for name, cls in MESSAGES.items():
        assert cls.model_fields["type"].default == name
        assert cls.context in CONTEXTS, name


def test_decode_round_trip_and_clear_errors():
    cmd = msg(ReserveItems, order_id="o1", items=(line(),))
    assert decode(cmd.model_dump_json().encode()) == cmd
    assert decider_for("catalog", cmd).name == "reservations"
    with pytest.raises(ValueError, match="unknown message type"):
        decode(b'{"type": "Nope"}')
    bad = json.loads(cmd.model_dump_json())
    bad["items"][0]["quantity"] = 0
    with pytest.raises(ValidationError, match="quantity"):
        decode(json.dumps(bad).encode())
    bad["items"] = []
    with pytest.raises(ValidationError, match="items"):
        decode(json.dumps(bad).encode())
    with pytest.raises(ValidationError, match="currency"):
        decode(b'{"type":"OpenAccount","message_id":"m","correlation_id":"c",'
               b'"occurred_at":"2026-01-01T00:00:00Z","account_id":"a","customer_id":"c",'
               b'"currency":"eur"}')


def test_every_reply_is_accepted_where_it_is_routed_and_names_its_key():
    from orderstream.contracts.routes import REPLIES
    from orderstream.local.simulate import DECIDERS

    for cls, (context, key) in REPLIES.items():
        assert (context, cls.__name__) in DECIDERS, f"no decider of {context} accepts {cls.__name__}"
        assert key in cls.model_fields, f"{cls.__name__} has no {key}"
    consumed = {cls.__name__ for (context, name), d in DECIDERS.items() for cls in d.commands
                if cls.__name__ == name and cls.context != context}
    assert consumed <= {cls.__name__ for cls in REPLIES}, "another context's event is accepted but never routed"
