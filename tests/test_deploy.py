"""The deployment files agree with the code: compose services, commands, settings, image.

No Docker engine runs where the tests run, so this checks what can be checked without one:
the compose file's structure and every name it relies on, the Dockerfile's inputs, and the
entrypoint's handling of the local Azure's azure.env (run with /bin/sh).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from diskferry.config.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_the_fleet_as_deployed() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) >= {"redis", "worker", "flower", "producer", "local-azure"}
    assert "--appendonly" in services["redis"]["command"]  # Redis persists
    defaults = Settings()
    worker = " ".join(services["worker"]["command"])
    assert f"--queues={defaults.queue},{defaults.poll_queue}" in worker
    assert worker.startswith("diskferry worker ")  # the preflight checks run before any task
    assert services["producer"]["profiles"] == ["producer"]
    assert services["local-azure"]["profiles"] == ["local-azure"]
    assert any("--read_only" in arg for arg in services["flower"]["command"])
    assert all(p.startswith("127.0.0.1:") for p in services["flower"]["ports"])


def test_every_setting_compose_sets_is_one_diskferry_reads() -> None:
    documented = set(re.findall(r"``(DISKFERRY_[A-Z_]+)``", (ROOT / "config" / "settings.py").read_text()))
    env = _compose()["x-diskferry"]["environment"]
    unknown = {k for k in env if k.startswith("DISKFERRY_") and k != "DISKFERRY_AZURE_ENV"} - documented
    assert unknown == set()


def test_the_app_the_workers_run_exists() -> None:
    from diskferry.tasks.app import app

    names = set(app.tasks)
    assert {"diskferry.prepare", "diskferry.copy_disk", "diskferry.finalize", "diskferry.cleanup"} <= names


def test_dockerfile_copies_only_what_exists() -> None:
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source


def test_entrypoint_loads_the_local_azure_env(tmp_path: Path) -> None:
    env_file = tmp_path / "azure.env"
    env_file.write_text("AZURE_TENANT_ID=t-1\nDISKFERRY_ARM_ENDPOINT=https://local-azure:8443\n")
    out = subprocess.run(
        ["sh", str(ROOT / "docker" / "entrypoint.sh"), "sh", "-c", 'echo "$AZURE_TENANT_ID $DISKFERRY_ARM_ENDPOINT"'],
        env={"PATH": "/usr/bin:/bin", "DISKFERRY_AZURE_ENV": str(env_file)},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert out.stdout.strip() == "t-1 https://local-azure:8443"
