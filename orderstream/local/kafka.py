"""A real single-node Apache Kafka (KRaft) on loopback, its jars fetched from Maven Central.

The jars are cached per version (ORDERSTREAM_CACHE, default ~/.cache/orderstream); each broker
has a state directory holding its config, data, log file and pid file. Starting twice is
harmless; a pid file whose process is gone is a broker left over from a crash and is cleared.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

KAFKA_VERSION = "3.9.1"
SLF4J_VERSION = "1.7.36"
TOOLS = {
    "console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "console-producer": "kafka.tools.ConsoleProducer",
    "topics": "org.apache.kafka.tools.TopicCommand",
    "consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "get-offsets": "org.apache.kafka.tools.GetOffsetShell",
}

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>orderstream.local</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId>
      <version>{slf4j}</version></dependency>
  </dependencies>
</project>
"""

SERVER_PROPERTIES = """process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data}
num.partitions=4
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=8
group.initial.rebalance.delay.ms=0
log.segment.bytes=16777216
"""

LOG4J = """log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File={log}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.state.change.logger=WARN
"""

TOOLS_LOG4J = "log4j.rootLogger=WARN, stderr\nlog4j.appender.stderr=org.apache.log4j.ConsoleAppender\n" \
    "log4j.appender.stderr.Target=System.err\nlog4j.appender.stderr.layout=org.apache.log4j.PatternLayout\n" \
    "log4j.appender.stderr.layout.ConversionPattern=%p %m%n\n"


class KafkaError(RuntimeError):
    pass


def cache_dir() -> Path:
    root = Path(os.environ.get("ORDERSTREAM_CACHE", Path.home() / ".cache" / "orderstream"))
    return root / f"kafka-{KAFKA_VERSION}"


def fetch() -> Path:
    """The broker's classpath directory, downloaded with Maven on first use."""
    libs = cache_dir() / "libs"
    if (cache_dir() / ".complete").exists():
        return libs
    cache_dir().mkdir(parents=True, exist_ok=True)
    (cache_dir() / "pom.xml").write_text(POM.format(kafka=KAFKA_VERSION, slf4j=SLF4J_VERSION))
    print(f"fetching Apache Kafka {KAFKA_VERSION} from Maven Central into {libs} ...", file=sys.stderr)
    result = subprocess.run(
        ["mvn", "-q", "-B", "-f", str(cache_dir() / "pom.xml"), "dependency:copy-dependencies",
         f"-DoutputDirectory={libs}"], capture_output=True, text=True)
    if result.returncode != 0:
        raise KafkaError(f"mvn could not fetch Kafka {KAFKA_VERSION}:\n{result.stdout}{result.stderr}")
    (cache_dir() / ".complete").write_text(KAFKA_VERSION)
    return libs


def java(libs: Path, main: str, *args: str, log4j: Path | None = None) -> list[str]:
    opts = [f"-Dlog4j.configuration=file:{log4j}"] if log4j else []
    return ["java", "-Xms128m", "-Xmx768m", *opts, "-cp", f"{libs}/*", main, *args]


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (a child nobody reaped still answers kill 0)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@dataclass(frozen=True)
class Broker:
    """One local broker: its state directory and its port (the controller uses port + 1)."""

    home: Path
    port: int = 9092

    def __post_init__(self) -> None:
        object.__setattr__(self, "home", self.home.resolve())

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "server.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    def pid(self) -> int | None:
        """The broker's pid, or None when its process is gone (or the pid now belongs to another)."""
        try:
            pid = int(self.pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ValueError):
            return None
        if not alive(pid) or (cmdline and b"kafka.Kafka" not in cmdline):
            return None
        return pid

    def running(self) -> bool:
        return self.pid() is not None

    def start(self, timeout: float = 90.0) -> str:
        if self.running():
            self.wait_ready(timeout, started_marker=False)
            return f"Kafka already running on {self.bootstrap} (pid {self.pid()})"
        if self.pid_file.exists():
            print(f"clearing a broker left over from a crashed run ({self.pid_file})", file=sys.stderr)
            self.pid_file.unlink()
        if port_open(self.port) or port_open(self.port + 1):
            raise KafkaError(f"port {self.port} or {self.port + 1} is taken by another process; "
                             "stop it or choose another port with --port")
        libs = fetch()
        config = self._write_config()
        if not (self.home / "data" / "meta.properties").exists():
            self._run(java(libs, "kafka.tools.StorageTool", "format", "-t", str(uuid.uuid4()),
                           "-c", str(config), log4j=self.home / "tools-log4j.properties"))
        with open(self.home / "logs" / "stdout.log", "ab") as out:
            proc = subprocess.Popen(java(libs, "kafka.Kafka", str(config), log4j=self.home / "log4j.properties"),
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self.pid_file.write_text(str(proc.pid))
        self.wait_ready(timeout)
        return f"Kafka {KAFKA_VERSION} started on {self.bootstrap} (pid {proc.pid}, log {self.log_file})"

    def wait_ready(self, timeout: float, started_marker: bool = True) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise KafkaError(f"Kafka exited during start-up; see {self.log_file}")
            if port_open(self.port) and (not started_marker or "Kafka Server started" in self._log_tail()):
                return
            time.sleep(0.3)
        raise KafkaError(f"Kafka did not answer on {self.bootstrap} within {timeout:.0f}s; see {self.log_file}")

    def stop(self, timeout: float = 30.0) -> str:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return "Kafka is not running"
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.2)
        if self.running():
            os.killpg(pid, signal.SIGKILL)
            time.sleep(0.5)
        self.pid_file.unlink(missing_ok=True)
        return f"Kafka stopped (pid {pid})"

    def status(self) -> str:
        pid = self.pid()
        if pid is None:
            return f"Kafka is not running (state in {self.home})"
        return f"Kafka running on {self.bootstrap} (pid {pid}, log {self.log_file})"

    def tool(self, name: str, *args: str) -> list[str]:
        """The command line of a Kafka console tool run with the cached jars."""
        if name not in TOOLS:
            raise KafkaError(f"unknown tool {name!r}; choose one of {', '.join(TOOLS)}")
        self._write_config()
        return java(fetch(), TOOLS[name], *args, log4j=self.home / "tools-log4j.properties")

    def _write_config(self) -> Path:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        (self.home / "data").mkdir(parents=True, exist_ok=True)
        (self.home / "log4j.properties").write_text(LOG4J.format(log=self.log_file))
        (self.home / "tools-log4j.properties").write_text(TOOLS_LOG4J)
        config = self.home / "server.properties"
        config.write_text(SERVER_PROPERTIES.format(port=self.port, controller_port=self.port + 1,
                                                   data=self.home / "data"))
        return config

    def _run(self, cmd: list[str]) -> None:
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise KafkaError(f"{' '.join(cmd[:6])} ... failed:\n{result.stderr}")

    def _log_tail(self) -> str:
        try:
            with open(self.log_file, "rb") as log:
                log.seek(max(0, log.seek(0, 2) - 65536))
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""
