"""The topic spec in topics/topics.toml, and applying it to a cluster.

Each context has `<ctx>.commands`, `<ctx>.events`, `<ctx>.deadletter` and one changelog per
table; the spec names the tables and who consumes whose events.
"""

import asyncio
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from orderstream.runtime.kafka import admin
from orderstream.settings import CONTEXTS, Settings

UNKNOWN_TOPIC = 3  # Kafka error code UNKNOWN_TOPIC_OR_PARTITION
TOPIC_DENIED = 29  # TOPIC_AUTHORIZATION_FAILED: this Kafka user may not even see the topic
NOT_VISIBLE = -1   # partitions of a topic this user may not describe
SPEC_FILE = Path(__file__).resolve().parents[2] / "topics" / "topics.toml"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    kind: str
    owner: str
    partitions: int
    replication_factor: int
    config: dict[str, str]
    consumers: tuple[str, ...] = field(default=())


def read_spec() -> dict:
    """The spec beside the source tree, or in ./topics (where the container image puts it)."""
    for path in (SPEC_FILE, Path.cwd() / "topics" / "topics.toml"):
        if path.exists():
            return tomllib.loads(path.read_text())
    raise FileNotFoundError(f"topic spec not found at {SPEC_FILE} or ./topics/topics.toml")


def app_id(settings: Settings, context: str) -> str:
    return settings.topic(f"orderstream-{context}")


def changelog(settings: Settings, context: str, table: str) -> str:
    return f"{app_id(settings, context)}-{table}-changelog"


def tables(context: str) -> list[str]:
    return read_spec()["contexts"][context]["tables"]


def topics_for(settings: Settings) -> list[TopicSpec]:
    spec = read_spec()
    contexts = spec["contexts"]

    def make(name: str, kind: str, owner: str, consumers: tuple[str, ...]) -> TopicSpec:
        config = dict(spec["kinds"][kind]["config"])
        config["min.insync.replicas"] = str(settings.topic_min_insync_replicas)
        return TopicSpec(name, kind, owner, settings.topic_partitions,
                         settings.topic_replication_factor, config, consumers)

    specs = []
    for ctx in CONTEXTS:
        readers = tuple(c for c in CONTEXTS if f"{ctx}.events" in contexts[c]["consumes"])
        specs += [make(settings.topic(f"{ctx}.commands"), "commands", ctx, (ctx,)),
                  make(settings.topic(f"{ctx}.events"), "events", ctx, readers),
                  make(settings.topic(f"{ctx}.deadletter"), "deadletter", ctx, ())]
        specs += [make(changelog(settings, ctx, table), "changelog", ctx, (ctx,))
                  for table in contexts[ctx]["tables"]]
    return specs


async def describe(settings: Settings, names: list[str]) -> dict[str, tuple[int, dict[str, str]]]:
    """Partition count and configs of each existing topic among `names`."""
    client = admin(settings)
    await client.start()
    try:
        found = await client.describe_topics(names)
        existing = {t["topic"]: len(t["partitions"]) for t in found
                    if t["error_code"] not in (UNKNOWN_TOPIC, TOPIC_DENIED)}
        hidden = {t["topic"]: NOT_VISIBLE for t in found if t["error_code"] == TOPIC_DENIED}
        resources_ = [ConfigResource(ConfigResourceType.TOPIC, name) for name in existing]
        configs: dict[str, dict[str, str]] = {}
        for response in await client.describe_configs(resources_) if resources_ else []:
            for code, _, _, name, entries in response.resources:
                if code == TOPIC_DENIED:
                    existing[name] = NOT_VISIBLE
                configs[name] = {entry[0]: entry[1] for entry in entries}
        existing |= hidden
        return {name: (count, configs.get(name, {})) for name, count in existing.items()}
    finally:
        await client.close()


def drift(specs: list[TopicSpec], actual: dict[str, tuple[int, dict[str, str]]]) -> list[str]:
    problems = []
    for spec in specs:
        if spec.name not in actual:
            problems.append(f"{spec.name}: missing")
            continue
        partitions, config = actual[spec.name]
        if partitions == NOT_VISIBLE:
            problems.append(f"{spec.name}: this Kafka user may not describe it (no DESCRIBE or "
                            "DESCRIBE_CONFIGS ACL)")
            continue
        if partitions != spec.partitions:
            problems.append(f"{spec.name}: {partitions} partitions, spec says {spec.partitions}")
        problems += [f"{spec.name}: {key}={config.get(key)!r}, spec says {value!r}"
                     for key, value in spec.config.items() if config.get(key) != value]
    return problems


async def check(settings: Settings) -> list[str]:
    specs = topics_for(settings)
    return drift(specs, await describe(settings, [s.name for s in specs]))


async def apply(settings: Settings) -> list[str]:
    """Create missing topics, add partitions, set configs, then grant each context's Kafka user
    its ACLs (runtime/acls.py). Returns what it changed."""
    from orderstream.runtime import acls

    return await apply_topics(settings) + await acls.apply(settings)


async def apply_topics(settings: Settings) -> list[str]:
    """Returns what it changed, once the topics it created can be seen: a worker started right
    after finds them."""
    specs = topics_for(settings)
    actual = await describe(settings, [s.name for s in specs])
    hidden = [name for name, (partitions, _) in actual.items() if partitions == NOT_VISIBLE]
    if hidden:
        raise RuntimeError(f"this Kafka user may not describe {', '.join(hidden)}: run "
                           "`orderstream topics apply` as an admin user")
    client = admin(settings)
    await client.start()
    changes: list[str] = []
    try:
        missing = [s for s in specs if s.name not in actual]
        if missing:
            await _create(client, missing)
            changes += [f"created {s.name} ({s.partitions} partitions)" for s in missing]
        for spec in (s for s in specs if s.name in actual):
            changes += await _update(client, spec, *actual[spec.name])
    finally:
        await client.close()
    await visible(settings, [s.name for s in missing])
    return changes


async def visible(settings: Settings, names: list[str], timeout: float = 30.0) -> None:
    """Wait until the brokers describe every topic in `names` (a topic just created takes a
    moment to appear in their metadata)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while names and (names := [n for n in names if n not in await describe(settings, names)]):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"topics created but not visible after {timeout:.0f}s: {', '.join(names)}")
        await asyncio.sleep(0.2)


async def _create(client, specs: list[TopicSpec]) -> None:
    response = await client.create_topics(
        [NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.config) for s in specs])
    errors = [f"{name}: {message or code}" for name, code, message in response.topic_errors
              if code not in (0, 36)]  # 36: already exists (a concurrent apply)
    if errors:
        raise RuntimeError("could not create topics: " + "; ".join(errors))


async def _update(client, spec: TopicSpec, partitions: int, config: dict[str, str]) -> list[str]:
    changes = []
    if partitions < spec.partitions:
        await client.create_partitions({spec.name: NewPartitions(spec.partitions)})
        changes.append(f"{spec.name}: partitions {partitions} -> {spec.partitions}")
    elif partitions > spec.partitions:
        changes.append(f"{spec.name}: has {partitions} partitions, more than the spec's "
                       f"{spec.partitions}; Kafka cannot remove partitions, left as is")
    if any(config.get(k) != v for k, v in spec.config.items()):
        await client.alter_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name, spec.config)])
        changes.append(f"{spec.name}: config set to {spec.config}")
    return changes


async def create_scratch(settings: Settings, names: list[str]) -> None:
    """Topics outside the spec that a tool makes for itself (the bench's relay chain), with the
    spec's partitions and replication; delete them with `delete_scratch`."""
    config = {"min.insync.replicas": str(settings.topic_min_insync_replicas)}
    client = admin(settings)
    await client.start()
    try:
        await _create(client, [TopicSpec(name, "scratch", "bench", settings.topic_partitions,
                                         settings.topic_replication_factor, config) for name in names])
    finally:
        await client.close()


async def delete_scratch(settings: Settings, names: list[str]) -> None:
    client = admin(settings)
    await client.start()
    try:
        await client.delete_topics(names)
    finally:
        await client.close()
