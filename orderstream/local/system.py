"""A whole system of real processes on loopback, for chaos runs and measurements: a broker (its
own, or one that is running), a gateway and a carrier simulator, and any number of replicas of
each context's worker, each with its own free port, RocksDB directory and log file.

Every process starts in a process group of its own; `close()` ends every one still running, so
a run leaves nothing behind, whatever way it ends.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from orderstream.local.kafka import Broker
from orderstream.local.ports import free_port
from orderstream.runtime import topics
from orderstream.settings import CONTEXTS, Settings

EXE = [sys.executable, "-m", "orderstream.cli"]


def answers(url: str) -> bool:
    return status_of(url) == 200


def status_of(url: str) -> int | None:
    """The HTTP status a GET of `url` is answered with; None when there is no answer."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    port: int
    popen: subprocess.Popen | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> "Proc":
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
        self.starts += 1
        return self

    def signal(self, sig: int) -> None:
        if self.running():
            os.killpg(self.popen.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(timeout=30)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a SIGSTOPped process is continued first), then SIGKILL if it lingers."""
        if not self.running():
            return
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def ready(self) -> bool:
        return self.running() and answers(f"{self.url}/health")


@dataclass
class LocalSystem:
    root: Path
    settings: Settings
    env: dict[str, str]                      # ORDERSTREAM_* for every worker
    broker: Broker | None = None             # set when this system may restart it
    gateway: Proc | None = None
    carrier: Proc | None = None
    replicas: dict[str, list[Proc]] = field(default_factory=dict)
    retired: list[Proc] = field(default_factory=list)

    def start_simulators(self, undeliverable: str = "AQ", decline_over: int | None = None) -> None:
        for name in ("gateway", "carrier"):
            port = free_port()
            argv = EXE + ["simulator", "--host", "127.0.0.1", "--port", str(port), "--seed", "1",
                          "--undeliverable-country", undeliverable]
            argv += ["--decline-over", str(decline_over)] if decline_over else []
            proc = Proc(name, argv, dict(os.environ), self.root / f"{name}.log", port).start()
            setattr(self, name, proc)
        wait_until(lambda: self.gateway.ready() and self.carrier.ready(), 60, "the simulators")
        self.env |= {"ORDERSTREAM_GATEWAY_URL": self.gateway.url,
                     "ORDERSTREAM_CARRIER_URL": self.carrier.url}

    def add(self, context: str, **env: str) -> Proc:
        """A new replica of `context` (started, not yet ready)."""
        index = sum(1 for p in [*self.workers(), *self.retired] if p.name.rsplit("-", 1)[0] == context)
        port = free_port()
        worker_env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTREAM_")}
        worker_env |= self.env | env | {"ORDERSTREAM_WEB_PORT": str(port),
                                        "ORDERSTREAM_DATADIR": str(self.root / f"data-{context}-{index}"),
                                        "ORDERSTREAM_GROUP_INSTANCE_ID": f"{context}-{index}"}
        proc = Proc(f"{context}-{index}", EXE + ["worker", context], worker_env,
                    self.root / f"{context}-{index}.log", port)
        self.replicas.setdefault(context, []).append(proc.start())
        return proc

    def retire(self, proc: Proc) -> None:
        context = proc.name.rsplit("-", 1)[0]
        self.replicas[context].remove(proc)
        self.retired.append(proc)
        proc.stop()

    def workers(self) -> list[Proc]:
        return [p for procs in self.replicas.values() for p in procs]

    def url(self, context: str) -> str:
        """A replica of `context` that answers (any replica routes a keyed request to the owner)."""
        procs = self.replicas[context]
        return next((p.url for p in procs if p.running()), procs[0].url)

    def urls(self, context: str) -> list[str]:
        return [p.url for p in self.replicas[context] if p.running()]

    def wait_ready(self, procs: list[Proc] | None = None, timeout: float = 240.0) -> None:
        procs = self.workers() if procs is None else procs

        def ready() -> bool:
            for proc in procs:
                if not proc.running():
                    raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}; see "
                                       f"{proc.log}:\n{proc.log.read_text(errors='replace')[-2000:]}")
            return all(p.ready() for p in procs)

        wait_until(ready, timeout, ", ".join(p.name for p in procs))

    def close(self) -> None:
        for proc in [*self.workers(), *self.retired, self.gateway, self.carrier]:
            if proc is not None:
                proc.stop(timeout=20)


def wait_until(condition, timeout: float, what: str, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready within {timeout:.0f}s")
        time.sleep(interval)


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """ORDERSTREAM_* for a worker: where the broker is, the namespace, and `extra`."""
    return {"ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "ORDERSTREAM_NAMESPACE": settings.namespace,
            "ORDERSTREAM_TOPIC_PARTITIONS": str(settings.topic_partitions), **extra}


def start(root: Path, settings: Settings, broker: Broker | None = None, contexts=CONTEXTS,
          decline_over: int | None = None, **extra: str) -> LocalSystem:
    """Topics, both simulators and one replica of each context, ready."""
    root.mkdir(parents=True, exist_ok=True)
    asyncio.run(topics.apply(settings))
    system = LocalSystem(root, settings, worker_env(settings, **extra), broker)
    try:
        system.start_simulators(decline_over=decline_over)
        for context in contexts:
            system.add(context)
        system.wait_ready()
    except BaseException:
        system.close()
        raise
    return system
