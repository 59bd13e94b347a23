"""topics/ against the real broker: apply creates, a second apply changes nothing, check finds drift."""

import asyncio
import subprocess
import sys
import time

import pytest
from aiokafka.admin import NewPartitions

from orderstream.runtime import topics
from orderstream.runtime.kafka import admin

pytestmark = pytest.mark.kafka


def cli(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orderstream.cli", *args], env=env.vars(),
                          capture_output=True, text=True, timeout=120)


def test_apply_is_idempotent_and_check_passes(env):
    again = cli(env, "topics", "apply")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "topics: up to date"
    checked = cli(env, "topics", "check")
    assert checked.returncode == 0 and "match the spec" in checked.stdout


def test_check_fails_on_a_changed_partition_count(env):
    settings = env.settings()
    name = settings.topic("order.events")

    async def grow() -> None:
        client = admin(settings)
        await client.start()
        try:
            await client.create_partitions({name: NewPartitions(6)})
        finally:
            await client.close()

    asyncio.run(grow())
    _until(lambda: asyncio.run(topics.describe(settings, [name])).get(name, (0,))[0] == 6)
    checked = cli(env, "topics", "check")
    assert checked.returncode == 1
    assert f"{name}: 6 partitions, spec says 4" in checked.stdout


def test_apply_repairs_a_changed_config(env):
    settings = env.settings()
    spec = next(t for t in topics.topics_for(settings) if t.kind == "changelog")
    asyncio.run(_set_config(settings, spec.name, {"cleanup.policy": "delete"}))
    _until(lambda: any("cleanup.policy" in p for p in asyncio.run(topics.check(settings))))
    applied = cli(env, "topics", "apply")
    assert f"{spec.name}: config set to" in applied.stdout
    _until(lambda: asyncio.run(topics.check(settings)) == [])


def _until(condition, timeout: float = 20.0) -> None:
    """The broker's metadata cache catches up with the controller a moment later."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the broker never showed the change"
        time.sleep(0.2)


async def _set_config(settings, name: str, config: dict[str, str]) -> None:
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    client = admin(settings)
    await client.start()
    try:
        await client.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, config)])
    finally:
        await client.close()
