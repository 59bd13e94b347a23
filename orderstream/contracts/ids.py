"""Ids derived from the order id, so every context and both saga modes agree on them and a
retried step reuses the same id (one reservation, one payment, one shipment per order)."""

from orderstream.contracts.envelope import derived_id


def reservation_id_for(order_id: str) -> str:
    return derived_id("reservation", order_id)


def payment_id_for(order_id: str) -> str:
    return derived_id("payment", order_id)


def shipment_id_for(order_id: str) -> str:
    return derived_id("shipment", order_id)


def compensation_refund_id(order_id: str) -> str:
    return derived_id("refund", order_id, "compensation")


def return_refund_id(order_id: str) -> str:
    return derived_id("refund", order_id, "return")
