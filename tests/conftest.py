"""Fixtures shared by every test: the local Azure, started once per session, and SDK clients.

The emulator runs as a real subprocess serving HTTPS on free loopback ports; tests reach it
only through the unchanged Azure SDKs (and the admin client for knobs and inspection).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
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

from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.testing import EmulatorProcess

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
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis of our own: a redis-server subprocess on a free port when one is installed,
    else ``DISKFERRY_TEST_REDIS_URL`` (default redis://127.0.0.1:6379/13), whose one DB is
    flushed first. Tests must use only this DB."""
    import redis

    server = shutil.which("redis-server")
    if server is None:
        url = os.environ.get("DISKFERRY_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
        redis.Redis.from_url(url).flushdb()
        yield url
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.05)
    client.close()
    yield url
    proc.terminate()
    proc.wait(10)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).parent
    for item in items:
        rel = Path(str(item.fspath)).relative_to(root)
        if rel.parts and rel.parts[0] == "conformance":
            item.add_marker(pytest.mark.azurite)
