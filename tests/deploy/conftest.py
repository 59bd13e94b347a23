"""Renders the Helm chart once per values file; the deploy tests read the rendered manifests."""

import pytest
from helm_render import RENDERS, Render, template


@pytest.fixture(scope="session")
def renders() -> dict[str, Render]:
    return {name: Render(name, template(*args)) for name, args in RENDERS.items()}


@pytest.fixture(scope="session", params=list(RENDERS))
def render(request, renders) -> Render:
    return renders[request.param]
