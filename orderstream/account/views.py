"""Account HTTP API: open, credit, freeze; balance with transaction history."""

from pydantic import Field

from orderstream.contracts.account import CreditAccount, FreezeAccount, OpenAccount
from orderstream.contracts.common import Currency, Id, PositiveAmount, Reason
from orderstream.runtime.web import Api, Body, href, not_found

api = Api("orderstream account API")


class OpenRequest(Body):
    account_id: Id
    customer_id: Id
    currency: Currency


class CreditRequest(Body):
    amount: PositiveAmount = Field(description="integer minor units (cents)")
    currency: Currency
    reason: Reason = "top-up"


class FreezeRequest(Body):
    reason: Reason


def location(account_id: str) -> str:
    return href("accounts", account_id)


@api.post("/accounts", "Open an account", body=OpenRequest)
async def open_account(request):
    body = await api.body(request, OpenRequest)
    command = api.command(OpenAccount, request, **body.model_dump())
    return await api.accept(command, location(body.account_id))


@api.get("/accounts/{account_id}", "Balance and transaction history", table="accounts", key="account_id")
async def get_account(request, account_id: str):
    state = api.state("accounts", account_id, "account")
    if not state["opened"]:
        raise not_found("account", account_id)
    return 200, state


@api.post("/accounts/{account_id}/credit", "Credit an account (top-up)", body=CreditRequest)
async def credit(request, account_id: str):
    body = await api.body(request, CreditRequest)
    credit_id = api.edge_id(request, "credit")
    command = api.command(CreditAccount, request, message_id=credit_id, account_id=account_id,
                          credit_id=credit_id, **body.model_dump())
    return await api.accept(command, location(account_id))


@api.post("/accounts/{account_id}/freeze", "Freeze an account", body=FreezeRequest)
async def freeze(request, account_id: str):
    body = await api.body(request, FreezeRequest)
    return await api.accept(api.command(FreezeAccount, request, account_id=account_id,
                                        reason=body.reason), location(account_id))
