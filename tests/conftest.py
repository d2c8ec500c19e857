"""Fixtures shared by every test: the local Azure, started once per session, and SDK clients.

The emulator runs as a real subprocess serving HTTPS on free loopback ports; tests reach it
only through the unchanged Azure SDKs (and the admin client for knobs and inspection).
"""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient
from celery import Celery

from diskferry.config.settings import Settings
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.testing import EmulatorProcess
from diskferry.producer import api
from diskferry.tasks.app import make_app
from tests.redisdbs import RedisDatabases
from tests.redisserver import RedisServer

ARM_SCOPE = "https://management.azure.com/.default"


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    state = tmp_path_factory.mktemp("local-azure") / "state"
    with EmulatorProcess(state) as proc:
        # azure-core (requests) and MSAL trust the emulator's throwaway CA through this
        os.environ["REQUESTS_CA_BUNDLE"] = proc.env["REQUESTS_CA_BUNDLE"]
        _roomy_arm_buckets(proc)
        yield proc


#: ARM buckets 100 x Azure's for the session's emulator (see _roomy_arm_buckets)
SESSION_ARM_BUCKETS = {
    "arm_reads_bucket": 25_000, "arm_reads_refill": 2_500,
    "arm_writes_bucket": 20_000, "arm_writes_refill": 1_000,
    "arm_deletes_bucket": 20_000, "arm_deletes_refill": 1_000,
}


def _roomy_arm_buckets(proc: EmulatorProcess) -> None:
    """Every test of the session calls ARM as one principal of one subscription, which in
    Azure would be one bulk job's budget, not dozens. With Azure's buckets each test would
    inherit what the tests before it spent: its timing, and whether it meets 429s, would
    depend on the order (and a throttled call counts in the emulator's call counters, which
    tests compare exactly). Measured on this shared 2-core machine, tests/fleet took 7m40s
    with Azure's buckets and 7m18s / 6m56s with these: within its load noise, so the choice
    is for determinism, not speed. Throttling stays on, with its headers and accounting;
    tests/emulator/test_throttle.py checks Azure's defaults on an emulator of its own, and
    tests/fleet/test_throttling.py runs a job against small buckets."""
    admin = proc.admin()
    try:
        admin.set(**SESSION_ARM_BUCKETS)
    finally:
        admin.close()


@pytest.fixture
def spawn_emulator(emulator: EmulatorProcess) -> Callable[[Path], EmulatorProcess]:
    """A factory of a test's own emulators (on a state dir it chooses, e.g. to restart one):
    they serve the session emulator's certificate, so nothing else needs to trust a new CA."""

    def spawn(state_dir: Path) -> EmulatorProcess:
        return EmulatorProcess(state_dir, tls_from=emulator.state_dir)

    return spawn


@pytest.fixture(scope="session")
def azure_env(emulator: EmulatorProcess) -> dict[str, str]:
    return emulator.env


@pytest.fixture(scope="session")
def credential(azure_env: dict[str, str]) -> ClientSecretCredential:
    return ClientSecretCredential(
        azure_env["AZURE_TENANT_ID"],
        azure_env["AZURE_CLIENT_ID"],
        azure_env["AZURE_CLIENT_SECRET"],
        authority=azure_env["AZURE_AUTHORITY_HOST"],
        disable_instance_discovery=True,
    )


@dataclass
class Clients:
    resource: ResourceManagementClient
    compute: ComputeManagementClient
    storage: StorageManagementClient
    subscription_id: str
    network: NetworkManagementClient


def make_clients(
    credential: ClientSecretCredential, env: dict[str, str], subscription_id: str | None = None, **options: Any
) -> Clients:
    """``options``: more client options (``retry_total=0`` to see a 429 instead of a retry)."""
    sub = subscription_id or env["AZURE_SUBSCRIPTION_ID"]
    kw = {"base_url": env["DISKFERRY_ARM_ENDPOINT"], "credential_scopes": [ARM_SCOPE], **options}
    return Clients(
        resource=ResourceManagementClient(credential, sub, **kw),
        compute=ComputeManagementClient(credential, sub, **kw),
        storage=StorageManagementClient(credential, sub, **kw),
        subscription_id=sub,
        network=NetworkManagementClient(credential, sub, **kw),
    )


def clients_for(proc: EmulatorProcess, **options: Any) -> Clients:
    """SDK clients of one more emulator process (a test's own, e.g. one it restarts).

    Start it with ``spawn_emulator`` so that it serves the session's certificate, which
    the CA bundle in the environment already trusts."""
    credential = ClientSecretCredential(
        proc.env["AZURE_TENANT_ID"],
        proc.env["AZURE_CLIENT_ID"],
        proc.env["AZURE_CLIENT_SECRET"],
        authority=proc.env["AZURE_AUTHORITY_HOST"],
        disable_instance_discovery=True,
    )
    return make_clients(credential, proc.env, **options)


@pytest.fixture(scope="session")
def clients(credential: ClientSecretCredential, azure_env: dict[str, str]) -> Clients:
    return make_clients(credential, azure_env)


@pytest.fixture(scope="session")
def network(credential: ClientSecretCredential, azure_env: dict[str, str]) -> NetworkManagementClient:
    """The Microsoft.Network client of the session's emulator."""
    url, sub = azure_env["DISKFERRY_ARM_ENDPOINT"], azure_env["AZURE_SUBSCRIPTION_ID"]
    return NetworkManagementClient(credential, sub, base_url=url, credential_scopes=[ARM_SCOPE])


@pytest.fixture(scope="session")
def admin_session(emulator: EmulatorProcess) -> Iterator[AdminClient]:
    client = emulator.admin()
    yield client
    client.close()


@pytest.fixture
def admin(admin_session: AdminClient) -> Iterator[AdminClient]:
    """The admin client; faults and changed settings are undone after the test."""
    before = admin_session.settings()
    yield admin_session
    admin_session.clear_faults()
    admin_session.set(**before)


@pytest.fixture
def rg(clients: Clients) -> str:
    """A fresh resource group in francecentral for one test."""
    name = f"rg-{uuid.uuid4().hex[:8]}"
    clients.resource.resource_groups.create_or_update(name, {"location": "francecentral"})
    return name


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The session's own redis-server. Tests never use a Redis they did not start (one on
    6379 may be a developer's): without ``redis-server`` installed they fail, saying so."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    """Database 0 of the session's own Redis (empty at the start of the session). A test
    that needs Redis to itself takes ``redis_db`` instead."""
    return redis_server.url(0)


@pytest.fixture
def redis_db(redis_url: str) -> Iterator[Callable[[], str]]:
    """A factory of fresh, flushed databases of the session's Redis, each the caller's alone
    until the test ends (URLs ``redis://127.0.0.1:PORT/N``)."""
    pool = RedisDatabases(redis_url)
    taken: list[str] = []

    def take() -> str:
        taken.append(pool.take())
        return taken[-1]

    yield take
    for url in taken:
        pool.give_back(url)
    pool.close()


@pytest.fixture
def broker_app(redis_db: Callable[[], str]) -> Iterator[tuple[Celery, Settings]]:
    """diskferry's Celery app on a broker and result backend of its own, with no worker:
    what it sends stays queued, for a test to read (``tests.brokerview``)."""
    settings = Settings.from_env({"DISKFERRY_BROKER_URL": redis_db(), "DISKFERRY_RESULT_BACKEND": redis_db(),
                                  "DISKFERRY_POLL_QUEUE": "polls"})
    app = make_app(settings)
    yield app, settings
    # what was sent subscribed this process to its results: drop that while Redis is up
    gc.collect()
    api.release_results(app)
    app.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """A factory of redis-servers of the test's own, for tests that kill or restart Redis
    (``own_redis("--appendonly", "yes")``: extra redis-server arguments); each is stopped
    after the test."""
    started: list[RedisServer] = []

    def start(*args: str) -> RedisServer:
        started.append(RedisServer(tmp_path / f"redis{len(started)}", args).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).parent
    for item in items:
        rel = Path(str(item.fspath)).relative_to(root)
        if rel.parts and rel.parts[0] == "conformance":
            item.add_marker(pytest.mark.azurite)
