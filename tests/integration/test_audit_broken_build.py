"""`orderstream audit` on a real system: a build that debits twice (the test-only
ORDERSTREAM_FAULT_INJECTION=double_debit) is caught, one line per order with its evidence and
exit status 1; the same orders on the real build pass."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.integration.http import eventually, get
from tests.integration.system import start_system

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("fault", ["", "double_debit"])
def test_the_audit_catches_an_account_that_debits_twice(workers, env, simulator, fault):
    shop = start_system(workers, ORDERSTREAM_GATEWAY_URL=simulator, ORDERSTREAM_CARRIER_URL=simulator,
                        ORDERSTREAM_FAULT_INJECTION=fault)
    shop.product("pen", 10, price=250)
    shop.account("ada", 10_000)
    eventually(lambda: get(f"{shop.url('catalog')}/products/pen"), lambda r: r[0] == 200)
    eventually(lambda: shop.opened("ada"), lambda balance: balance == 10_000)
    orders = [shop.place("ada", [("pen", 2)]) for _ in range(3)]
    assert {shop.settled(order_id)["status"] for order_id in orders} == {"Preparing"}

    audit = subprocess.run(
        [sys.executable, "-m", "orderstream.cli", "audit", "--settled", "--simulator", simulator,
         "--catalog-url", shop.url("catalog"), "--account-url", shop.url("account")],
        env=env.vars(), cwd=ROOT, capture_output=True, text=True, timeout=300)

    lines = audit.stdout.splitlines()
    twice = [line for line in lines if line.startswith("VIOLATION captured-twice")]
    if not fault:
        assert audit.returncode == 0 and not twice, audit.stdout + audit.stderr
        assert "orders: accepted 3, Preparing 3, settled 3" in lines
        return
    assert audit.returncode == 1, audit.stdout + audit.stderr
    assert sorted(line.split(": ")[1] for line in twice) == sorted(orders)
    assert all("captured by 2 transactions" in line for line in twice)
    assert shop.balance("ada") == 10_000 - 3 * 2 * 500  # what the customer noticed
