"""A real single-node Apache Kafka (KRaft) on loopback, its jars fetched from Maven Central.

The jars are cached per version (ORDERSTREAM_CACHE, default ~/.cache/orderstream); each broker
has a state directory holding its config, data, log file and pid file. Starting twice is
harmless; a pid file whose process is gone is a broker left over from a crash and is cleared.

A secure broker (`Broker(..., secure=True)`, `orderstream kafka start --secure`) serves clients
only on SASL_SSL with SCRAM-SHA-512, behind the StandardAuthorizer with no access where no ACL
allows it. On first start it makes a local CA and a broker certificate (openssl, in `tls/`) and a
super user `admin` (the SCRAM credential written by `kafka-storage format --add-scram`); users
added later (`add_users`) are created through the admin API. The passwords are kept in
`credentials/<user>.env` (mode 0600), reused on every start. Inter-broker traffic (a single
node still sends itself transaction markers) runs on the same SASL_SSL listener as `admin`; the
controller listener is SASL_PLAINTEXT with PLAIN on loopback, also as `admin`: no port of a
secure broker accepts an unauthenticated client.
"""

import asyncio
import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (CompactArray, CompactBytes, CompactString, Int8, Int16, Int32,
                                     Schema, TaggedFields)

if TYPE_CHECKING:
    from orderstream.settings import Settings

KAFKA_VERSION = "3.9.1"
SLF4J_VERSION = "1.7.36"
TOOLS = {
    "console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "console-producer": "kafka.tools.ConsoleProducer",
    "topics": "org.apache.kafka.tools.TopicCommand",
    "consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "configs": "kafka.admin.ConfigCommand",
    "acls": "kafka.admin.AclCommand",
}
ADMIN = "admin"  # the secure broker's super user

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
controller.listener.names=CONTROLLER
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

PLAIN_PROPERTIES = """listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
"""

SECURE_PROPERTIES = """listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=SASL_SSL://127.0.0.1:{port}
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT
inter.broker.listener.name=SASL_SSL
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
sasl.mechanism.controller.protocol=PLAIN
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="{admin_password}";
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="{admin_password}" user_admin="{admin_password}";
ssl.keystore.type=PEM
ssl.keystore.location={tls}/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location={tls}/ca.crt
ssl.client.auth=none
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin
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

CLIENT_PROPERTIES = """security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="{user}" password="{password}";
ssl.truststore.type=PEM
ssl.truststore.location={ca}
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
    secure: bool = False

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

    @property
    def ca_file(self) -> Path:
        return self.home / "tls" / "ca.crt"

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
            scram = ["--add-scram", f"SCRAM-SHA-512=[name={ADMIN},password={self.password(ADMIN)}]"]
            self._run(java(libs, "kafka.tools.StorageTool", "format", "-t", str(uuid.uuid4()),
                           "-c", str(config), *(scram if self.secure else []),
                           log4j=self.home / "tools-log4j.properties"))
        with open(self.home / "logs" / "stdout.log", "ab") as out:
            proc = subprocess.Popen(java(libs, "kafka.Kafka", str(config), log4j=self.home / "log4j.properties"),
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self.pid_file.write_text(str(proc.pid))
        self.wait_ready(timeout)
        how = f"SASL_SSL (SCRAM-SHA-512), credentials in {self.home / 'credentials'}" if self.secure else "PLAINTEXT"
        return f"Kafka {KAFKA_VERSION} started on {self.bootstrap} {how} (pid {proc.pid}, log {self.log_file})"

    def wait_ready(self, timeout: float, started_marker: bool = True) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise KafkaError(f"Kafka exited during start-up; see {self.log_file}:\n{self._why()}")
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
        how = " SASL_SSL" if self.secure else ""
        return f"Kafka running on {self.bootstrap}{how} (pid {pid}, log {self.log_file})"

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
        listeners = PLAIN_PROPERTIES
        if self.secure:
            self._make_tls()
            self._write_credentials(ADMIN, self.password(ADMIN))  # this port, this CA
            listeners = SECURE_PROPERTIES.replace("{admin_password}", self.password(ADMIN))
        config = self.home / "server.properties"
        text = (SERVER_PROPERTIES + listeners).format(port=self.port, controller_port=self.port + 1,
                                                      data=self.home / "data", tls=self.home / "tls")
        _write_private(config, text)
        return config

    # --- the secure broker: TLS material and SCRAM users ---------------------------------------

    def password(self, user: str) -> str:
        """The user's password: made at first use, then read back from credentials/<user>.env."""
        found = self.credentials(user).get("ORDERSTREAM_KAFKA_SASL_PASSWORD")
        if found:
            return found
        password = secrets.token_hex(24)
        self._write_credentials(user, password)
        return password

    def credentials(self, user: str) -> dict[str, str]:
        """The ORDERSTREAM_KAFKA_* settings that connect as `user` (empty: no such user yet)."""
        try:
            lines = self.env_file(user).read_text().splitlines()
        except FileNotFoundError:
            return {}
        return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))

    def env_file(self, user: str) -> Path:
        return self.home / "credentials" / f"{user}.env"

    def rotate(self, user: str) -> str:
        """A new password for an existing user, on the broker and in its credentials file."""
        password = secrets.token_hex(24)
        asyncio.run(upsert_scram_users(self.admin_settings(), {user: password}))
        self._write_credentials(user, password)
        return f"{user}: new password in {self.env_file(user)}"

    def add_users(self, users: list[str]) -> list[str]:
        """Create (or re-assert) SCRAM-SHA-512 users with their stored passwords."""
        passwords = {user: self.password(user) for user in users}
        asyncio.run(upsert_scram_users(self.admin_settings(), passwords))
        for user, password in passwords.items():
            self._write_credentials(user, password)  # this port, this CA
        return [f"{user}: credentials in {self.env_file(user)}" for user in users]

    def admin_settings(self) -> "Settings":
        from orderstream.settings import Settings

        return Settings(**{k[len("ORDERSTREAM_"):].lower(): v for k, v in self.credentials(ADMIN).items()})

    def _write_credentials(self, user: str, password: str) -> None:
        (self.home / "credentials").mkdir(mode=0o700, parents=True, exist_ok=True)
        settings = {"BOOTSTRAP_SERVERS": self.bootstrap, "SECURITY_PROTOCOL": "SASL_SSL",
                    "SASL_MECHANISM": "SCRAM-SHA-512", "SASL_USERNAME": user,
                    "SASL_PASSWORD": password, "SSL_CAFILE": str(self.ca_file)}
        _write_private(self.env_file(user), f"# Kafka user {user} on the local secure broker\n"
                       + "".join(f"ORDERSTREAM_KAFKA_{k}={v}\n" for k, v in settings.items()))
        if user == ADMIN:  # for the console tools: --command-config / --consumer.config
            _write_private(self.home / "credentials" / "admin.properties", CLIENT_PROPERTIES.format(
                user=user, password=password, ca=self.ca_file))

    def _make_tls(self) -> None:
        """A local CA and a certificate for 127.0.0.1/localhost signed by it; made once."""
        tls = self.home / "tls"
        if (tls / "broker.pem").exists() and self.ca_file.exists():
            return
        tls.mkdir(parents=True, exist_ok=True)
        os.chmod(tls, 0o700)
        (tls / "broker.ext").write_text(
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n"
            "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
        days = ["-days", "3650"]
        self._run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tls / "ca.key"),
                   "-out", str(self.ca_file), *days, "-subj", f"/CN=orderstream local CA {uuid.uuid4().hex[:8]}",
                   "-addext", "basicConstraints=critical,CA:TRUE",
                   "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        self._run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tls / "broker.key"),
                   "-out", str(tls / "broker.csr"), "-subj", "/CN=localhost"])
        self._run(["openssl", "x509", "-req", "-in", str(tls / "broker.csr"), "-CA", str(self.ca_file),
                   "-CAkey", str(tls / "ca.key"), "-set_serial", str(secrets.randbits(63)), *days,
                   "-extfile", str(tls / "broker.ext"), "-out", str(tls / "broker.crt")])
        chain = "".join((tls / name).read_text() for name in ("broker.key", "broker.crt", "ca.crt"))
        _write_private(tls / "broker.pem", chain)

    def _run(self, cmd: list[str]) -> None:
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise KafkaError(f"{' '.join(cmd[:6])} ... failed:\n{result.stderr}")

    def _why(self) -> str:
        """The last lines that say why the broker stopped: its errors, else its stdout's end."""
        errors = [line for line in self._log_tail().splitlines() if " ERROR " in line or " FATAL " in line]
        try:
            out = (self.home / "logs" / "stdout.log").read_text(errors="replace").splitlines()
        except FileNotFoundError:
            out = []
        return "\n".join((errors or out)[-8:])

    def _log_tail(self) -> str:
        try:
            with open(self.log_file, "rb") as log:
                log.seek(max(0, log.seek(0, 2) - 65536))
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""


def _write_private(path: Path, text: str) -> None:
    """A file only its owner may read: it holds a key or a password."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, 0o600)


# --- SCRAM users through the admin API (AlterUserScramCredentials, KIP-554) --------------------

SCRAM_SHA_512, SCRAM_ITERATIONS = 2, 4096


class _AlterScramResponse(Response):
    API_KEY, API_VERSION = 51, 0
    SCHEMA = Schema(("throttle_time_ms", Int32),
                    ("results", CompactArray(("user", CompactString("utf-8")), ("error_code", Int16),
                                             ("error_message", CompactString("utf-8")),
                                             ("tags", TaggedFields))),
                    ("tags", TaggedFields))


class _AlterScramStruct(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY, API_VERSION, RESPONSE_TYPE = 51, 0, _AlterScramResponse
    SCHEMA = Schema(("deletions", CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8),
                                               ("tags", TaggedFields))),
                    ("upsertions", CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8),
                                                ("iterations", Int32), ("salt", CompactBytes),
                                                ("salted_password", CompactBytes), ("tags", TaggedFields))),
                    ("tags", TaggedFields))


class _AlterScram(Request[_AlterScramStruct]):
    API_KEY = 51

    def __init__(self, passwords: dict[str, str]):
        self.upsertions = []
        for user, password in passwords.items():
            salt = secrets.token_bytes(32)  # the client salts; the broker keeps only derived keys
            salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, SCRAM_ITERATIONS)
            self.upsertions.append((user, SCRAM_SHA_512, SCRAM_ITERATIONS, salt, salted, {}))

    def build(self, request_struct_class: type[_AlterScramStruct]) -> _AlterScramStruct:
        return request_struct_class([], self.upsertions, {})


async def upsert_scram_users(admin_settings: "Settings", passwords: dict[str, str]) -> None:
    """Create the SCRAM-SHA-512 users, or set their passwords if they exist."""
    from orderstream.runtime.kafka import admin

    client = admin(admin_settings)
    await client.start()
    try:
        response = await client._send_request(_AlterScram(passwords))
    finally:
        await client.close()
    errors = [f"{user}: {message or code}" for user, code, message, _ in response.results if code]
    if errors:
        raise KafkaError("could not set SCRAM credentials: " + "; ".join(errors))
