"""``diskferry status``: a summary by default, every disk with ``--disks``, everything with
``--json`` (the real CLI in a subprocess, against a synthetic job record in the test Redis)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from diskferry.model import Phase
from diskferry.state import JobStore
from tests.producer.synthetic import many_disks


def _status(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISKFERRY_", "AZURE_"))}
    env.update({"DISKFERRY_BROKER_URL": redis_url, "COLUMNS": "200"})
    return subprocess.run([sys.executable, "-m", "diskferry.producer.cli", "status", *args], env=env, text=True,
                          capture_output=True, check=False, timeout=60)


def test_summary_disks_and_json(store: JobStore, redis_url: str) -> None:
    job = many_disks(store, 100)
    failed = sum(d.phase is Phase.failed for d in store.status(job.id).disks())

    summary = _status(redis_url, job.id)
    assert summary.returncode == 1, summary.stderr  # still running
    assert "per target" in summary.stdout and "westeurope/we-rg" in summary.stdout
    assert summary.stdout.count("unreadable") == failed
    assert "still copying" in summary.stderr
    listed = sum(f"vm{i:04}" in summary.stdout for i in range(100))

    every = _status(redis_url, job.id, "--disks")
    assert every.returncode == 1
    assert all(f"vm{i:04}" in every.stdout for i in range(100)) and listed < 100
    assert len(every.stdout.splitlines()) > len(summary.stdout.splitlines())

    doc = json.loads(_status(redis_url, job.id, "--json").stdout)
    disks = [d for s in doc["job"]["sources"] for t in s["targets"] for d in t["disks"]]
    assert len(disks) == 200 and doc["ok"] is False


def test_unknown_job_is_bad_input(redis_url: str) -> None:
    out = _status(redis_url, "0000deadbeef")
    assert out.returncode == 2 and "no job '0000deadbeef'" in out.stderr
