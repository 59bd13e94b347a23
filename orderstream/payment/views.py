"""Payment HTTP API: a payment with its charge and refunds (payments start from the order saga)."""

from orderstream.runtime.web import Api, not_found

api = Api("orderstream payment API")


@api.get("/payments/{payment_id}", "A payment: its charge, captured amount and refunds",
         table="payments", key="payment_id")
async def get_payment(request, payment_id: str):
    payment = api.system.state_of("payments", payment_id)
    if payment is None:
        raise not_found("payment", payment_id)
    return 200, payment.model_dump(mode="json") | {
        "refunded": payment.refunded, "refundable": payment.refundable}
