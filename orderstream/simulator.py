"""A card gateway and a shipping carrier in one small process, for local runs and tests.

    python -m orderstream.simulator --port 6070 --latency-ms 50 --failure-rate 0.1 --seed 7

Every POST under /v1 needs an Idempotency-Key header; the same key on the same path replays the
first answer (header `Idempotent-Replayed: true`) and never repeats the effect; the same key with
a different body is refused with 422. Answers that are deterministic, for tests:

- charge declined (402) when `amount > decline_over`, or `amount in decline_amounts`;
- label refused (422) when the address's `country` or `postal_code` is listed undeliverable;
- `POST /v1/charges/void {"charge_key"}` reverses the charge made with that idempotency key
  (refunds what is left of it), or, if none was made, refuses that key from then on (409), so
  a charge still in flight cannot land after its void; `POST /v1/labels/cancel {"label_key"}`
  does the same for a label;
- 503 for every call while `outage`, for the next `fail_next` calls, and at random with
  probability `failure_rate` (a seeded RNG, so a run is reproducible).

Change any of these at run time with POST /admin/config (a partial JSON object). State is in
memory and lost on exit.
"""

import argparse
import asyncio
import json
import logging
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orderstream.settings import SIMULATOR_PORT

log = logging.getLogger("orderstream.simulator")

Answer = tuple[int, dict[str, Any]]


class SimulatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latency_ms: int = Field(0, ge=0, le=60_000)
    failure_rate: float = Field(0.0, ge=0.0, le=1.0)
    outage: bool = False
    fail_next: int = Field(0, ge=0)
    seed: int | None = None
    decline_over: int | None = Field(None, ge=0)
    decline_amounts: list[int] = []
    undeliverable_countries: list[str] = []
    undeliverable_postcodes: list[str] = []


@dataclass
class Charge:
    payment_id: str
    amount: int
    currency: str
    refunded: int = 0


@dataclass
class Label:
    shipment_id: str
    status: str = "created"


@dataclass
class Ledger:
    charges: dict[str, Charge] = field(default_factory=dict)         # by transaction id
    labels: dict[str, Label] = field(default_factory=dict)           # by tracking number
    replies: dict[tuple[str, str], tuple[str, Answer]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    charged_by_key: dict[str, int] = field(default_factory=dict)
    charged_by_payment: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    made_by_key: dict[str, str] = field(default_factory=dict)  # charge/label key -> its id
    voided_keys: set[str] = field(default_factory=set)         # keys voided before any effect

    def stats(self) -> dict[str, Any]:
        refunded: defaultdict[str, int] = defaultdict(int)
        labels: defaultdict[str, dict[str, str]] = defaultdict(dict)
        for charge in self.charges.values():
            refunded[charge.payment_id] += charge.refunded
        for tracking_number, label in self.labels.items():
            labels[label.shipment_id][tracking_number] = label.status
        return {**{name: self.counts[name] for name in COUNTED},
                "charged_by_key": self.charged_by_key,
                "charged_by_payment": dict(self.charged_by_payment),
                "refunded_by_transaction": {tx: c.refunded for tx, c in self.charges.items()},
                "refunded_by_payment": dict(refunded),
                "labels_by_shipment": dict(labels)}


COUNTED = ("charges", "declines", "refunds", "voids", "labels", "labels_refused",
           "label_cancels", "replays", "injected_failures")
VOIDED = (409, {"status": "voided", "reason": "Idempotency-Key: voided before anything was made "
                                              "with it"})


class Simulator:
    def __init__(self, config: SimulatorConfig) -> None:
        self.ledger = Ledger()
        self.configure(config)

    def configure(self, config: SimulatorConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)

    def injected_failure(self) -> str | None:
        """Why this call fails with 503, or None; decided before any effect happens."""
        if self.config.outage:
            return "simulated outage"
        if self.config.fail_next > 0:
            self.config = self.config.model_copy(update={"fail_next": self.config.fail_next - 1})
            return "simulated failure (fail_next)"
        if self.config.failure_rate and self.rng.random() < self.config.failure_rate:
            return "simulated failure (failure_rate)"
        return None

    def charge(self, key: str, body: dict[str, Any], _: web.Request) -> Answer:
        if error := first_error(body, payment_id="id", amount="amount", currency="currency"):
            return 400, {"reason": error}
        amount = body["amount"]
        if key in self.ledger.voided_keys:
            return VOIDED
        if reason := self.decline_reason(amount):
            self.ledger.counts["declines"] += 1
            log.info("payment %s: charge of %d declined (%s)", body["payment_id"], amount, reason)
            return 402, {"status": "declined", "reason": reason}
        transaction_id = f"txn_{uuid.uuid4().hex}"
        self.ledger.charges[transaction_id] = Charge(body["payment_id"], amount, body["currency"])
        self.ledger.counts["charges"] += 1
        self.ledger.charged_by_key[key] = amount
        self.ledger.made_by_key[key] = transaction_id
        self.ledger.charged_by_payment[body["payment_id"]] += amount
        log.info("payment %s: charged %d %s as %s", body["payment_id"], amount,
                 body["currency"], transaction_id)
        return 201, {"transaction_id": transaction_id, "status": "approved"}

    def decline_reason(self, amount: int) -> str | None:
        if amount in self.config.decline_amounts:
            return "card_declined"
        if self.config.decline_over is not None and amount > self.config.decline_over:
            return "insufficient_funds"
        return None

    def refund(self, key: str, body: dict[str, Any], _: web.Request) -> Answer:
        if error := first_error(body, transaction_id="id", amount="amount", currency="currency"):
            return 400, {"reason": error}
        charge = self.ledger.charges.get(body["transaction_id"])
        if charge is None:
            return 404, {"reason": f"transaction_id: no charge {body['transaction_id']}"}
        if body["currency"] != charge.currency:
            return 422, {"reason": f"currency: the charge was in {charge.currency}"}
        remaining = charge.amount - charge.refunded
        if body["amount"] > remaining:
            return 409, {"reason": f"amount: refund of {body['amount']} exceeds the "
                                   f"{remaining} left on the charge"}
        charge.refunded += body["amount"]
        self.ledger.counts["refunds"] += 1
        log.info("payment %s: refunded %d of %s", charge.payment_id, body["amount"],
                 body["transaction_id"])
        return 201, {"refund_id": f"re_{uuid.uuid4().hex}", "status": "refunded"}

    def void(self, key: str, body: dict[str, Any], _: web.Request) -> Answer:
        """Undo the charge made with `charge_key`, or make sure none ever will be."""
        if error := first_error(body, payment_id="id", charge_key="id"):
            return 400, {"reason": error}
        transaction_id = self.ledger.made_by_key.get(body["charge_key"])
        if transaction_id is None:
            self.ledger.voided_keys.add(body["charge_key"])
            log.info("payment %s: void before any charge; key refused from now on",
                     body["payment_id"])
            return 200, {"status": "voided", "transaction_id": None, "reversed_amount": 0}
        charge = self.ledger.charges[transaction_id]
        reversed_amount, charge.refunded = charge.amount - charge.refunded, charge.amount
        self.ledger.counts["voids"] += 1
        log.info("payment %s: voided %s, %d given back", charge.payment_id, transaction_id,
                 reversed_amount)
        return 200, {"status": "voided", "transaction_id": transaction_id,
                     "reversed_amount": reversed_amount}

    def create_label(self, key: str, body: dict[str, Any], _: web.Request) -> Answer:
        if error := first_error(body, shipment_id="id", order_id="id", address="object",
                                items="list"):
            return 400, {"reason": error}
        if key in self.ledger.voided_keys:
            return VOIDED
        if reason := self.undeliverable(body["address"]):
            self.ledger.counts["labels_refused"] += 1
            log.info("shipment %s: label refused (%s)", body["shipment_id"], reason)
            return 422, {"reason": reason}
        tracking_number = f"TRK{uuid.uuid4().hex[:12].upper()}"
        self.ledger.labels[tracking_number] = Label(body["shipment_id"])
        self.ledger.made_by_key[key] = tracking_number
        self.ledger.counts["labels"] += 1
        log.info("shipment %s: label %s created", body["shipment_id"], tracking_number)
        return 201, {"tracking_number": tracking_number, "status": "created"}

    def undeliverable(self, address: dict[str, Any]) -> str | None:
        country = str(address.get("country", "")).upper()
        postcode = str(address.get("postal_code", ""))
        if country in {c.upper() for c in self.config.undeliverable_countries}:
            return f"undeliverable address: country {country} is not served"
        if postcode in self.config.undeliverable_postcodes:
            return f"undeliverable address: postal code {postcode} is not served"
        return None

    def cancel_label(self, key: str, body: dict[str, Any], request: web.Request) -> Answer:
        tracking_number = request.match_info["tracking"]
        if tracking_number not in self.ledger.labels:
            return 404, {"reason": f"tracking_number: no label {tracking_number}"}
        return self.cancelled(tracking_number)

    def cancel_label_by_key(self, key: str, body: dict[str, Any], _: web.Request) -> Answer:
        """Cancel the label made with `label_key`, or make sure none ever will be."""
        if error := first_error(body, shipment_id="id", label_key="id"):
            return 400, {"reason": error}
        tracking_number = self.ledger.made_by_key.get(body["label_key"])
        if tracking_number is None:
            self.ledger.voided_keys.add(body["label_key"])
            log.info("shipment %s: cancel before any label; key refused from now on",
                     body["shipment_id"])
            return 200, {"tracking_number": None, "status": "cancelled"}
        return self.cancelled(tracking_number)

    def cancelled(self, tracking_number: str) -> Answer:
        label = self.ledger.labels[tracking_number]
        if label.status != "cancelled":
            label.status = "cancelled"
            self.ledger.counts["label_cancels"] += 1
            log.info("shipment %s: label %s cancelled", label.shipment_id, tracking_number)
        return 200, {"tracking_number": tracking_number, "status": "cancelled"}


RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "id": (lambda v: isinstance(v, str) and 0 < len(v) <= 200, "must be a non-empty string"),
    "amount": (lambda v: type(v) is int and v > 0, "must be a positive integer (minor units)"),
    "currency": (lambda v: isinstance(v, str) and len(v) == 3 and v.isalpha() and v.isupper(),
                 "must be a 3-letter upper-case ISO 4217 code"),
    "object": (lambda v: isinstance(v, dict), "must be a JSON object"),
    "list": (lambda v: isinstance(v, list), "must be a JSON array"),
}


def first_error(body: dict[str, Any], **fields: str) -> str | None:
    for name, kind in fields.items():
        valid, rule = RULES[kind]
        if not valid(body.get(name)):
            return f"{name}: {rule}"
    return None


SIMULATOR = web.AppKey("simulator", Simulator)
Operation = Callable[[Simulator, str, dict[str, Any], web.Request], Answer]


def idempotent(operation: Operation) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Read the request, then latency, injected failures, and the operation once per key.

    The body is read before the latency so that, like a real gateway, a request whose client
    gave up waiting still takes effect: the retry with the same key must replay it.
    """

    async def handler(request: web.Request) -> web.Response:
        sim = request.app[SIMULATOR]
        key = request.headers.get("Idempotency-Key", "")
        body = await read_object(request)
        await asyncio.sleep(sim.config.latency_ms / 1000)
        if reason := sim.injected_failure():
            sim.ledger.counts["injected_failures"] += 1
            return web.json_response({"reason": reason}, status=503)
        if not key:
            return web.json_response({"reason": "Idempotency-Key: header is required"}, status=400)
        if body is None:
            return web.json_response({"reason": "body: must be a JSON object"}, status=400)
        return answer_once(sim, operation, request, key, body)

    return handler


def answer_once(sim: Simulator, operation: Operation, request: web.Request, key: str,
                body: dict[str, Any]) -> web.Response:
    # No await between the lookup and the store: concurrent requests with one key see one effect.
    fingerprint = json.dumps(body, sort_keys=True)
    stored = sim.ledger.replies.get((request.path, key))
    if stored is not None:
        if stored[0] != fingerprint:
            return web.json_response({"reason": "Idempotency-Key: already used with a different "
                                                "request body"}, status=422)
        sim.ledger.counts["replays"] += 1
        status, payload = stored[1]
        return web.json_response(payload, status=status, headers={"Idempotent-Replayed": "true"})
    status, payload = operation(sim, key, body, request)
    sim.ledger.replies[(request.path, key)] = (fingerprint, (status, payload))
    return web.json_response(payload, status=status)


async def read_object(request: web.Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "outage": request.app[SIMULATOR].config.outage})


async def stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[SIMULATOR].ledger.stats())


async def get_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[SIMULATOR].config.model_dump())


async def set_config(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    update = await read_object(request)
    if update is None:
        return web.json_response({"reason": "body: must be a JSON object"}, status=400)
    try:
        config = SimulatorConfig.model_validate({**sim.config.model_dump(), **update})
    except ValidationError as error:
        reasons = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]
        return web.json_response({"reason": "; ".join(reasons)}, status=400)
    if "seed" in update:
        sim.configure(config)
    else:
        sim.config = config
    log.info("simulator config changed: %s", update)
    return web.json_response(config.model_dump())


async def reset(request: web.Request) -> web.Response:
    request.app[SIMULATOR].ledger = Ledger()
    return web.json_response({"status": "reset"})


def build_app(config: SimulatorConfig | None = None) -> web.Application:
    app = web.Application()
    app[SIMULATOR] = Simulator(config or SimulatorConfig())
    app.add_routes([
        web.post("/v1/charges", idempotent(Simulator.charge)),
        web.post("/v1/charges/void", idempotent(Simulator.void)),
        web.post("/v1/refunds", idempotent(Simulator.refund)),
        web.post("/v1/labels", idempotent(Simulator.create_label)),
        web.post("/v1/labels/cancel", idempotent(Simulator.cancel_label_by_key)),
        web.post("/v1/labels/{tracking}/cancel", idempotent(Simulator.cancel_label)),
        web.get("/health", health),
        web.get("/v1/stats", stats),
        web.get("/admin/config", get_config),
        web.post("/admin/config", set_config),
        web.post("/admin/reset", reset),
    ])
    return app


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="orderstream simulator",
                                     description="Simulated card gateway and shipping carrier.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=SIMULATOR_PORT)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--failure-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--decline-over", type=int, default=None,
                        help="decline charges above this amount (minor units)")
    parser.add_argument("--undeliverable-country", action="append", default=[])
    parser.add_argument("--undeliverable-postcode", action="append", default=[])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        config = SimulatorConfig(
            latency_ms=args.latency_ms, failure_rate=args.failure_rate, seed=args.seed,
            decline_over=args.decline_over, undeliverable_countries=args.undeliverable_country,
            undeliverable_postcodes=args.undeliverable_postcode)
    except ValidationError as error:
        raise SystemExit(f"orderstream simulator: invalid option\n{error}") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    web.run_app(build_app(config), host=args.host, port=args.port, access_log=None,
                print=lambda _: log.info("listening on http://%s:%d", args.host, args.port))


if __name__ == "__main__":
    main()
