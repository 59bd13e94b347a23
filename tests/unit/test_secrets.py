"""Secrets on the wire: what the messages and the stored rows may carry (no broker needed)."""

import pytest

from orderstream.contracts.account import CreditAccount, OpenAccount
from orderstream.contracts.catalog import RegisterProduct
from orderstream.contracts.order import CreateOrder, SagaPolicy
from orderstream.local.simulate import Ports, Simulation

from builders import ADDRESS, line, msg

CARD_TOKEN = "tok_4242-secret"


@pytest.mark.xfail(strict=True, reason=(
    "known gap: a card token travels in plaintext in OrderCreated (order.events, kept forever), "
    "ProcessPayment/PreparePayment, PaymentStarted/PaymentPrepared, GatewayChargeRequested and the "
    "orders and payments rows (their changelogs), though the gateway call never uses it; keeping it "
    "off Kafka needs a contract change (README, Security: known gaps)"))
@pytest.mark.parametrize("mode", ["orchestration", "choreography"])
def test_a_card_token_is_in_no_message_and_no_stored_row(mode):
    sim = Simulation(mode=mode, ports=Ports())
    sim.send(msg(RegisterProduct, product_id="p1", sku="S1", name="W", price=500, currency="EUR", on_hand=5),
             msg(OpenAccount, account_id="a1", customer_id="c1", currency="EUR"),
             msg(CreditAccount, account_id="a1", amount=10_000, currency="EUR", reason="top-up",
                 credit_id="t1")).run()
    sim.send(msg(CreateOrder, order_id="o1", customer_id="c1", account_id="a1", items=(line("p1", 1),),
                 shipping_address=ADDRESS, payment_method="card", card_token=CARD_TOKEN,
                 policy=SagaPolicy(mode=mode))).run()
    assert sim.state("orders", "o1").status == "Preparing"
    carriers = [m.type for m in sim.events if CARD_TOKEN in m.model_dump_json()]
    carriers += [name for (name, _), state in sim.states.items() if CARD_TOKEN in state.model_dump_json()]
    assert carriers == []


def test_a_read_only_api_token_needs_a_different_write_token():
    from pydantic import ValidationError

    from orderstream.settings import Settings

    with pytest.raises(ValidationError, match="ORDERSTREAM_API_READ_TOKEN needs ORDERSTREAM_API_TOKEN"):
        Settings(api_read_token="r")
    with pytest.raises(ValidationError, match="must differ"):
        Settings(api_token="same", api_read_token="same")
    settings = Settings(api_token="w", api_read_token="r")
    assert "'w'" not in repr(settings) and "'r'" not in repr(settings)  # secrets print as **********
