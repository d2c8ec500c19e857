"""The fleet, for end-to-end tests: real Redis, two real ``celery worker`` processes serving
both queues, and the local Azure over HTTPS. Workers get the emulator's ``azure.env`` in
their environment, exactly as a deployment gets its credentials.

Seeding goes through ``diskferry.emulator.seed`` (the SDK, as any client would); every test checks
the emulator's audit afterwards: a finished job leaves nothing temporary behind.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from diskferry.cloud import Cloud
from diskferry.config.settings import Settings
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.seed import SeedResult, SeedSpec, seed
from diskferry.emulator.testing import EmulatorProcess
from diskferry.producer import api
from diskferry.producer.jobfile import JobFile, parse
from diskferry.producer.localfleet import LocalFleet
from diskferry.state import JobStatus, JobStore
from diskferry.tasks.app import make_app
from diskferry.vault import new_key
from tests.redisdbs import own_databases
from tests.waiting import wait_until

WORKERS = 2
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Fleet:
    env: dict[str, str]
    settings: Settings
    app: Celery
    store: JobStore
    cloud: Cloud
    admin: AdminClient
    workers: LocalFleet

    def submit(self, doc: dict[str, Any]) -> str:
        return api.submit_job(parse(doc), settings=self.settings, cloud=self.cloud, store=self.store, app=self.app)

    def wait(self, job_id: str, timeout: float = 60) -> JobStatus:
        def finished() -> JobStatus | None:
            status = self.store.status(job_id)
            return status if status.done and status.cleaned else None

        return wait_until(finished, timeout, lambda: f"job {job_id} not done after {timeout}s: "
                          f"{self.store.status(job_id)}\n{self.workers.tail()}", interval=0.2)

    def seed(self, doc: dict[str, Any]) -> SeedResult:
        return seed(self.env, SeedSpec.model_validate(doc))

    def leftovers(self, job_id: str) -> list[dict[str, Any]]:
        return self.admin.leftovers(job_id)


#: the settings naming a Redis database; a fleet takes its own for each unless overridden
DATABASES = ("DISKFERRY_BROKER_URL", "DISKFERRY_RESULT_BACKEND", "DISKFERRY_STATE_URL")


def _worker_env(azure_env: dict[str, str], databases: dict[str, str],
                overrides: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISKFERRY_", "AZURE_"))}
    env.update(azure_env)
    env.update(databases)
    env.update(
        {
            "DISKFERRY_VAULT_KEY": new_key(),
            "DISKFERRY_POLL_SECONDS": "0.3",
            # each job's watchdog sees it done within a second (it re-sends nothing: the
            # visibility timeout is the default 10 min)
            "DISKFERRY_WATCHDOG_SECONDS": "1",
            "DISKFERRY_CONCURRENCY": "2",
            "DISKFERRY_JOB_TTL_SECONDS": "3600",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides or {})
    return env


@pytest.fixture(scope="session")
def fleet(emulator: EmulatorProcess, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with running_fleet(emulator, redis_url, tmp_path_factory.mktemp("workers")) as started:
        yield started


@contextmanager
def running_fleet(emulator: EmulatorProcess, redis_url: str, logdir: Path, overrides: dict[str, str] | None = None,
                  workers: int = WORKERS) -> Iterator[Fleet]:
    """Workers with the fleet's environment plus ``overrides``, for tests that need other
    settings. Each fleet has broker, result backend and state databases of its own (fresh,
    flushed), unless ``overrides`` name them."""
    with own_databases(redis_url, [n for n in DATABASES if n not in (overrides or {})]) as databases:
        env = _worker_env(emulator.env, databases, overrides)
        with _started(env, emulator, logdir, workers) as fleet:
            yield fleet


@contextmanager
def _started(env: dict[str, str], emulator: EmulatorProcess, logdir: Path, workers: int) -> Iterator[Fleet]:
    settings = Settings.from_env(env)
    app = make_app(settings)
    local = LocalFleet(env, settings, logdir, workers=workers, cwd=ROOT)
    client = redis.Redis.from_url(settings.state_url, decode_responses=True)
    admin = emulator.admin()
    fleet = Fleet(env, settings, app, JobStore(client, settings.job_ttl_seconds), Cloud(settings.azure), admin, local)
    try:
        with local.start(app):
            yield fleet
            # results a test waited on keep a Redis subscription: drop it while Redis is up
            gc.collect()
            api.release_results(fleet.app)
    finally:
        admin.close()
        client.close()


@pytest.fixture
def fast_copies(admin: AdminClient) -> AdminClient:
    """Copies at 256 MiB/s and LROs without latency: each test takes seconds."""
    admin.set(copy_bandwidth=256 * 1024 * 1024, lro_latency=0.0)
    return admin


def vm_job(rg: str, vms: list[str], targets: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    return {"source": {"resource_group": rg, "vms": vms}, "targets": targets, "options": options}


def parse_job(doc: dict[str, Any]) -> JobFile:
    return parse(doc)
