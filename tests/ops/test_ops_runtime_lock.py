"""The runtime lock alone runs a node (issue 17): ``pip install --require-hashes -r
requirements-runtime.lock`` into a fresh venv, the project without its dependencies, then
``hrcnet init`` and ``hrcnet serve`` answer ``/healthz``. Nothing of the dev lock is there.

It downloads the packages from the package index, so it runs where the network is expected
(CI, or HRCNET_NETWORK_TESTS=1) and skips loudly elsewhere.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
NETWORK = bool(os.environ.get("CI") or os.environ.get("HRCNET_NETWORK_TESTS") == "1")

pytestmark = pytest.mark.skipif(
    not NETWORK,
    reason="RUNTIME LOCK NOT TESTED: needs the package index; runs in CI "
    "(or set HRCNET_NETWORK_TESTS=1)",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_runtime_lock_alone_installs_and_serves(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    lock = REPO / "requirements-runtime.lock"
    subprocess.run([*pip, "--require-hashes", "-r", str(lock)], check=True, timeout=900)
    subprocess.run([*pip, "--no-deps", str(REPO)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    installed = subprocess.run(
        [python, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True, check=True
    ).stdout.lower()
    for dev_only in ("pytest", "hypothesis", "mypy", "ruff", "playwright", "schemathesis"):
        assert f"{dev_only}==" not in installed, f"{dev_only} came with the runtime lock"

    env = {k: v for k, v in os.environ.items() if not k.startswith("NODE_")}
    env["NO_PROXY"] = "127.0.0.1"
    port = free_port()
    data_dir = tmp_path / "node"
    subprocess.run(
        [
            python, "-m", "node", "init", str(data_dir), "--city-id", "be-gent", "--name", "Gent",
            "--country", "BE", "--region", "europe-west", "--url", f"http://127.0.0.1:{port}",
            "--catalogue", str(REPO.parent / "shared" / "data" / "indicator_catalogue.json"),
        ],
        check=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [python, "-m", "node", "serve", str(data_dir), "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        answer = None
        with requests.Session() as http:
            http.trust_env = False
            while time.monotonic() < deadline and server.poll() is None:
                try:  # the first answer waits for the worker to load the app
                    answer = http.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
                    if answer.status_code == 200:
                        break
                except requests.RequestException:
                    time.sleep(0.2)
        assert answer is not None and answer.status_code == 200, (
            tmp_path / "serve.log"
        ).read_text()
        assert answer.json()["city_id"] == "be-gent"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
        log.close()
