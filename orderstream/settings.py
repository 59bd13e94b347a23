"""Worker settings, all from the environment (prefix ORDERSTREAM_), validated at start-up.

A bad value stops the worker with a message naming the variable and the rule.
"""

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

CONTEXTS = ("catalog", "customer", "account", "order", "payment", "shipment")
DEFAULT_PORTS = {name: 6061 + i for i, name in enumerate(CONTEXTS)}
SIMULATOR_PORT = 6070


class SagaMode(StrEnum):
    orchestration = "orchestration"
    choreography = "choreography"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERSTREAM_", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", min_length=1)
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    # the Kafka user (and ACL principal) of context c is [<namespace>.]<prefix><c>
    kafka_user_prefix: str = Field("orderstream-", pattern=r"^[A-Za-z0-9._-]*$", max_length=100)
    kafka_manage_acls: bool = True  # `topics apply` grants each context's user its ACLs (runtime/acls.py)

    namespace: str = Field("", pattern=r"^[a-z0-9-]*$", max_length=40)
    topic_partitions: int = Field(4, ge=1, le=1024)
    topic_replication_factor: int = Field(1, ge=1, le=10)
    topic_min_insync_replicas: int = Field(1, ge=1, le=10)
    table_standby_replicas: int = Field(0, ge=0, le=10)
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"

    datadir: Path = Path("var/data")
    web_host: str = "127.0.0.1"
    web_port: int | None = Field(None, ge=1, le=65535)
    web_advertised_host: str | None = None
    web_max_body_bytes: int = Field(65536, ge=1024, le=16 * 1024 * 1024)
    # static group membership (a StatefulSet's pod name; empty: none): a replica that restarts
    # within the session timeout takes its partitions back at once, with no rebalance of the
    # group; one that stops for good keeps them until the session timeout, as after a crash.
    # The member id is this id and the web port: a replica's advertised host must not change
    group_instance_id: str = Field("", pattern=r"^[A-Za-z0-9._-]*$", max_length=200)
    liveness_stall_seconds: float = Field(60.0, ge=5, le=3600)
    actor_batch_max: int = Field(500, ge=1, le=10_000)  # commands an actor takes in one step at most
    producer_linger_ms: int = Field(2, ge=0, le=1000)  # a worker's sends wait this long to share a request

    saga_mode: SagaMode = SagaMode.orchestration
    step_timeout_seconds: float = Field(10.0, gt=0, le=3600)
    step_max_retries: int = Field(3, ge=0, le=20)
    retry_backoff_seconds: float = Field(0.5, gt=0, le=60)

    api_token: SecretStr | None = None       # may call every endpoint
    api_read_token: SecretStr | None = None  # may only read (GET); needs api_token
    auth_reads: bool = False

    gateway_url: str = f"http://127.0.0.1:{SIMULATOR_PORT}"
    carrier_url: str = f"http://127.0.0.1:{SIMULATOR_PORT}"
    http_timeout_seconds: float = Field(2.0, gt=0, le=60)
    breaker_failure_threshold: int = Field(5, ge=1, le=1000)
    breaker_cool_down_seconds: float = Field(5.0, gt=0, le=600)

    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # traces (runtime/tracing.py): off, OTLP over HTTP to a collector, or OTLP/JSON lines in a file
    tracing: Literal["off", "otlp", "file"] = "off"
    otlp_endpoint: str = Field("http://127.0.0.1:4318", pattern=r"^https?://\S+$")
    otlp_protocol: Literal["http/json", "http/protobuf"] = "http/json"  # what the collector is sent
    tracing_file: Path = Path("var/traces.jsonl")
    tracing_sample_ratio: float = Field(1.0, ge=0, le=1)  # share of orders traced, by trace id

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> "Settings":
        if self.kafka_security_protocol.startswith("SASL") and not (
                self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError("ORDERSTREAM_KAFKA_SASL_USERNAME and ORDERSTREAM_KAFKA_SASL_PASSWORD "
                             "are required when ORDERSTREAM_KAFKA_SECURITY_PROTOCOL is SASL_*")
        if self.api_read_token is not None and self.api_token is None:
            raise ValueError("ORDERSTREAM_API_READ_TOKEN needs ORDERSTREAM_API_TOKEN: without it "
                             "every call could write, and a read-only token would mean nothing")
        if self.api_read_token is not None and self.api_token is not None and (
                self.api_read_token.get_secret_value() == self.api_token.get_secret_value()):
            raise ValueError("ORDERSTREAM_API_READ_TOKEN must differ from ORDERSTREAM_API_TOKEN")
        if self.topic_min_insync_replicas > self.topic_replication_factor:
            raise ValueError("ORDERSTREAM_TOPIC_MIN_INSYNC_REPLICAS must not exceed "
                             "ORDERSTREAM_TOPIC_REPLICATION_FACTOR")
        return self

    def port_for(self, context: str) -> int:
        return self.web_port or DEFAULT_PORTS[context]

    def topic(self, name: str) -> str:
        return f"{self.namespace}.{name}" if self.namespace else name

    def kafka_user(self, context: str) -> str:
        """The Kafka user (SASL username; ACL principal `User:<name>`) of a context's workers:
        `orderstream-order`, or `shop.orderstream-order` in namespace `shop`."""
        return self.topic(f"{self.kafka_user_prefix}{context}")


class SettingsError(SystemExit):
    pass


def load() -> Settings:
    """Settings from the environment, or exit with one line per bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else ""
            name = f"ORDERSTREAM_{field.upper()}" if field else "settings"
            lines.append(f"  {name}: {err['msg']}")
        raise SettingsError("orderstream: invalid settings\n" + "\n".join(lines)) from None
