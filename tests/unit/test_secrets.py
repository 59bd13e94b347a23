"""Secrets on the wire: what the messages and the stored rows may carry (no broker needed)."""

import pytest

from orderstream.contracts.account import CreditAccount, OpenAccount
from orderstream.contracts.catalog import RegisterProduct
from orderstream.contracts.order import CreateOrder, SagaPolicy
from orderstream.contracts.payment import card_ref
from orderstream.local.simulate import Ports, Simulation
from orderstream.order.views import PlaceOrder

from builders import ADDRESS, line, msg, types

CARD_TOKEN = "tok_4242-secret"


@pytest.mark.parametrize("mode", ["orchestration", "choreography"])
def test_a_card_token_is_in_no_message_and_no_stored_row(mode):
    sim = Simulation(mode=mode, ports=Ports())
    sim.send(msg(RegisterProduct, product_id="p1", sku="S1", name="W", price=500, currency="EUR", on_hand=5),
             msg(OpenAccount, account_id="a1", customer_id="c1", currency="EUR"),
             msg(CreditAccount, account_id="a1", amount=10_000, currency="EUR", reason="top-up",
                 credit_id="t1")).run()
    body = PlaceOrder(customer_id="c1", account_id="a1", items=(line("p1", 1),), shipping_address=ADDRESS,
                      payment_method="card", card_token=CARD_TOKEN)  # as POST /orders takes it
    create = msg(CreateOrder, order_id="o1", policy=SagaPolicy(mode=mode), **body.order())
    sim.send(create).run()
    assert sim.state("orders", "o1").status == "Preparing"
    assert sim.state("payments", sim.state("orders", "o1").payment_id).card_ref == card_ref(CARD_TOKEN)
    handed_over = "ProcessPayment" if mode == "orchestration" else "PreparePayment"
    assert {"CreateOrder", handed_over} <= set(types(sim.sent))
    carriers = [m.type for m in sim.sent + sim.events if CARD_TOKEN in m.model_dump_json()]
    carriers += [name for (name, _), state in sim.states.items() if CARD_TOKEN in state.model_dump_json()]
    assert carriers == []


def test_a_card_order_needs_a_card_token_and_its_command_takes_only_the_reference():
    from pydantic import ValidationError

    order = dict(customer_id="c1", account_id="a1", items=(line("p1", 1),), shipping_address=ADDRESS,
                 payment_method="card")
    with pytest.raises(ValidationError, match="card_token\n  Value error, required when payment_method"):
        PlaceOrder(**order)
    with pytest.raises(ValidationError, match="card_token\n  Extra inputs are not permitted"):
        msg(CreateOrder, order_id="o1", **order, card_ref=card_ref(CARD_TOKEN), card_token=CARD_TOKEN)


def test_a_read_only_api_token_needs_a_different_write_token():
    from pydantic import ValidationError

    from orderstream.settings import Settings

    with pytest.raises(ValidationError, match="ORDERSTREAM_API_READ_TOKEN needs ORDERSTREAM_API_TOKEN"):
        Settings(api_read_token="r")
    with pytest.raises(ValidationError, match="must differ"):
        Settings(api_token="same", api_read_token="same")
    settings = Settings(api_token="w", api_read_token="r")
    assert "'w'" not in repr(settings) and "'r'" not in repr(settings)  # secrets print as **********
