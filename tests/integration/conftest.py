"""Fixtures for tests that run the whole system."""

import pytest

from tests.integration.system import start_simulator, stop


@pytest.fixture
def simulator(tmp_path):
    """The gateway/carrier simulator as a real process on a free loopback port; its URL."""
    proc, url = start_simulator(tmp_path)
    yield url
    stop(proc)
