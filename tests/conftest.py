"""Shared fixtures: the real Kafka broker, per-test namespaces, and real worker processes.

The broker is the cluster in KAFKA_BOOTSTRAP_SERVERS when set, else a local single-node broker
started once per session (fresh data on each session). Each test that needs Kafka gets its own
ORDERSTREAM_NAMESPACE, so topics, consumer groups and tables of two tests never meet.

Tests of security use `secure_env` / `secure_workers` instead: a second local broker that
serves only SASL_SSL with ACLs (started once per session, on ORDERSTREAM_TEST_SECURE_KAFKA_PORT,
default the plain port + 10), one Kafka user per context and namespace, and the ACLs of
`orderstream topics apply`; each worker logs in as its context's user.
"""

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from orderstream.local.ports import free_port  # noqa: F401 (tests import it from here)

ROOT = Path(__file__).resolve().parents[1]
# Each pytest-xdist worker (gw0, gw1, ... under `make test`) starts brokers of its own, 20 ports apart.
_XDIST = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
TEST_KAFKA_PORT = int(os.environ.get("ORDERSTREAM_TEST_KAFKA_PORT", "19092")) + 20 * _XDIST
# ... and takes its servers' ports from a share of its own (orderstream/local/ports.py)
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
_SHARE = (32768 - 20000) // max(_WORKERS, 1)
os.environ.setdefault("ORDERSTREAM_LOCAL_PORTS", f"{20000 + _SHARE * _XDIST}-{20000 + _SHARE * (_XDIST + 1) - 1}")
TEST_SECURE_KAFKA_PORT = int(os.environ.get("ORDERSTREAM_TEST_SECURE_KAFKA_PORT", TEST_KAFKA_PORT - 20 * _XDIST + 10)) + 20 * _XDIST
CONTEXTS = ("catalog", "customer", "account", "order", "payment", "shipment")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory) -> str:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    from orderstream.local.kafka import Broker

    home = ROOT / "var" / f"test-kafka-{TEST_KAFKA_PORT}"
    broker = Broker(home, TEST_KAFKA_PORT)
    broker.stop()  # one left over from an interrupted session
    shutil.rmtree(home, ignore_errors=True)
    broker.start()
    yield broker.bootstrap
    broker.stop()


@pytest.fixture(scope="session")
def secure_kafka():
    """The local SASL_SSL broker with the StandardAuthorizer (orderstream.local.kafka.Broker)."""
    from orderstream.local.kafka import Broker

    home = ROOT / "var" / f"test-kafka-secure-{TEST_SECURE_KAFKA_PORT}"
    broker = Broker(home, TEST_SECURE_KAFKA_PORT, secure=True)
    broker.stop()
    shutil.rmtree(home, ignore_errors=True)
    broker.start()
    yield broker
    broker.stop()


@dataclass
class Env:
    """Settings for one test's system: its namespace, broker and the directory for its data."""

    bootstrap: str
    namespace: str
    root: Path
    extra: dict[str, str] = field(default_factory=dict)
    users: dict[str, dict[str, str]] = field(default_factory=dict)  # context -> its Kafka login

    def vars(self, context: str | None = None, **overrides: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTREAM_")}
        return base | {
            "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "ORDERSTREAM_NAMESPACE": self.namespace,
            "ORDERSTREAM_TOPIC_PARTITIONS": "4",
            "ORDERSTREAM_STEP_TIMEOUT_SECONDS": "20",
        } | self.extra | self.users.get(context or "", {}) | overrides

    def settings(self, context: str | None = None, **overrides: str):
        from orderstream.settings import Settings

        env = self.vars(context, **overrides)
        return Settings(**{k[len("ORDERSTREAM_"):].lower(): v for k, v in env.items()
                           if k.startswith("ORDERSTREAM_")})


@pytest.fixture
def env(kafka_bootstrap, tmp_path) -> Env:
    namespace = f"t{uuid.uuid4().hex[:10]}"
    test_env = Env(kafka_bootstrap, namespace, tmp_path)
    from orderstream.runtime import topics

    asyncio.run(topics.apply(test_env.settings()))
    return test_env


@pytest.fixture
def secure_env(secure_kafka, tmp_path) -> Env:
    """A namespace on the secure broker: its six context users, its topics and their ACLs,
    applied as the admin user (whose login `settings()` uses)."""
    from orderstream.runtime import topics

    test_env = Env(secure_kafka.bootstrap, f"t{uuid.uuid4().hex[:10]}", tmp_path,
                   extra=secure_kafka.credentials("admin"))
    names = {context: test_env.settings().kafka_user(context) for context in CONTEXTS}
    secure_kafka.add_users(list(names.values()))
    test_env.users = {context: secure_kafka.credentials(name) for context, name in names.items()}
    asyncio.run(topics.apply(test_env.settings()))
    return test_env


def wait_http(url: str, timeout: float = 90.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f}s")


@dataclass
class Worker:
    """A real `orderstream worker <context>` process with its own datadir, port and log."""

    context: str
    env: dict[str, str]
    port: int
    log: Path
    proc: subprocess.Popen | None = None
    module: str = "orderstream.cli"  # run as `python -m <module> worker <context>`

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> "Worker":
        out = open(self.log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", self.module, "worker", self.context],
                                     env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 120.0) -> None:
        try:
            wait_http(f"{self.url}/health", timeout, self.proc)
        except (RuntimeError, TimeoutError) as error:
            raise RuntimeError(f"{self.context} worker not ready: {error}\n--- log tail ---\n"
                               + self.log.read_text(errors="replace")[-4000:]) from None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


def worker_factory(env: Env):
    """workers(context, **settings) starts a real worker logged in as its context's user (if
    the env has users); `stop_all()` stops every one started."""
    started: list[Worker] = []

    def start(context: str, wait: bool = True, replica: str = "", module: str = "orderstream.cli",
              **overrides: str) -> Worker:
        port = free_port()
        name = f"{context}{replica}"
        worker_env = env.vars(context, ORDERSTREAM_WEB_PORT=str(port),
                              ORDERSTREAM_DATADIR=str(env.root / f"data{replica}"),
                              **({"ORDERSTREAM_GROUP_INSTANCE_ID": name} | overrides))
        worker = Worker(context, worker_env, port, env.root / f"{name}.log", module=module)
        started.append(worker)
        return worker.start(wait)

    def stop_all() -> None:
        """SIGKILL, all at once: the test is over and its namespace is never read again (a
        graceful stop of six workers one after the other took ~20 s per test)."""
        running = [w for w in started if w.proc and w.proc.poll() is None]
        for worker in running:
            os.killpg(worker.proc.pid, signal.SIGKILL)
        for worker in running:
            worker.proc.wait(timeout=30)

    start.stop_all = stop_all
    return start


@pytest.fixture
def workers(env):
    """Factory: workers(context, **settings) starts a real worker; all are stopped at teardown."""
    start = worker_factory(env)
    yield start
    start.stop_all()


@pytest.fixture
def secure_workers(secure_env):
    """As `workers`, on the secure broker: each worker logs in as its context's Kafka user."""
    start = worker_factory(secure_env)
    yield start
    start.stop_all()
