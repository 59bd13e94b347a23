"""Helm, the chart and its rendered manifests, for the deploy tests."""

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HELM = REPO / ".cache" / "bin" / "helm"
CHART = REPO / "helm" / "orderstream"
PRODUCTION = CHART / "values-production.yaml"
RELEASE, NAMESPACE = "shop", "orderstream"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest helm knows.
KUBE_VERSIONS = ("1.29.0", "1.36.0")


@dataclass(frozen=True)
class Render:
    name: str
    docs: list[dict]

    def of_kind(self, kind: str) -> list[dict]:
        return [d for d in self.docs if d["kind"] == kind]

    def named(self, kind: str, name: str) -> dict:
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.name}: expected one {kind} {name}, found {len(found)}"
        return found[0]


def helm(*args: str) -> str:
    if not HELM.exists():
        pytest.fail(f"helm is missing at {HELM}; install it with: helm/install-helm.sh", pytrace=False)
    done = subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed:\n{done.stderr}", pytrace=False)
    return done.stdout


def template(*args: str) -> list[dict]:
    out = helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE,
               "--kube-version", KUBE_VERSIONS[-1], *args)
    return [d for d in yaml.safe_load_all(out) if d]


RENDERS = {
    "default": (),
    "production": ("-f", str(PRODUCTION)),
    # Production plus mutual TLS: every setting the chart can set is rendered.
    "mtls": ("-f", str(PRODUCTION), "--set", "kafka.tls.clientAuth=true"),
}


def containers(pod_owner: dict) -> list[dict]:
    return pod_owner["spec"]["template"]["spec"]["containers"]


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}
