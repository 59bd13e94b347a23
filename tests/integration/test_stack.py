"""The run command: `orderstream up` brings up Kafka, the simulator and six answering workers
with demo data; `orderstream down` leaves no process behind."""

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from orderstream.settings import DEFAULT_PORTS, SIMULATOR_PORT
from tests.conftest import ROOT

pytestmark = pytest.mark.kafka
PORT = 19492  # a broker of its own: `up` starts Kafka itself


def ours(run_dir: Path) -> list[str]:
    """Processes whose working directory is the run's directory (workers, simulator, Kafka)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and Path(os.readlink(proc / "cwd")) == run_dir:
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120])
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    return found


def answers(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status


def test_up_runs_everything_and_down_stops_it_all(tmp_path):
    run_dir = tmp_path.resolve()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTREAM_")} | {
        "ORDERSTREAM_KAFKA_PORT": str(PORT), "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{PORT}",
        "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-m", "orderstream.cli"]
    try:
        up = subprocess.run(cli + ["up"], cwd=run_dir, env=env, capture_output=True, text=True, timeout=400)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "orderstream is up" in up.stdout and "demo data" in up.stdout
        for context, port in DEFAULT_PORTS.items():
            assert answers(f"http://127.0.0.1:{port}/health") == 200, context
        assert answers(f"http://127.0.0.1:{SIMULATOR_PORT}/health") == 200
        assert answers(f"http://127.0.0.1:{DEFAULT_PORTS['catalog']}/products/sku-pen") == 200
        assert len(ours(run_dir)) >= 8  # kafka, simulator, six workers
        bench = subprocess.run(cli + ["bench", "--orders", "20", "--concurrency", "10", "--json", "-",
                                      "--relay-hops", "3", "--relay-compare", "0"], cwd=run_dir,
                               env=env, capture_output=True, text=True, timeout=300)
        assert bench.returncode == 0, bench.stderr
        result = json.loads(bench.stdout)
        assert result["outcomes"] == {"Preparing": 20}, bench.stderr
        assert result["messages_per_order"] > 10 and result["cpu_ms_per_order"]["kafka"] > 0
        assert [r["outcomes"] for r in result["baseline"]] == [{"relayed": 20}]

        again = subprocess.run(cli + ["up"], cwd=run_dir, env=env, capture_output=True, text=True, timeout=400)
        assert again.returncode == 0 and "already running" in again.stdout
    finally:
        down = subprocess.run(cli + ["down"], cwd=run_dir, env=env, capture_output=True, text=True, timeout=300)
    assert down.returncode == 0, down.stderr
    assert ours(run_dir) == []
    # a clean shutdown: every Kafka producer and HTTP client the workers opened was closed
    logs = {log.name: log.read_text(errors="replace") for log in (run_dir / "var" / "log").glob("*.log")}
    assert {name for name, text in logs.items() if "Unclosed" in text or "Task was destroyed" in text} == set()
