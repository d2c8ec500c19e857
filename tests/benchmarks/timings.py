#!/usr/bin/env python3
"""The durations the tests no longer assert, measured and printed (figures, not pass marks).

A test asserts outcomes; how many seconds something takes on this machine, under whatever
else it runs, is a figure to watch here:

* the copy engine: 6 MiB at a 2 MiB/s pair bandwidth (ideal 3 s), and a 1 TiB sparse blob
  holding 1 MiB + 12 KiB across regions at 60 MiB/s;
* the admin hash of a 1 TiB sparse disk holding 6 MiB;
* a 1 TiB empty disk created, snapshotted and copied;
* a resource group delete through the SDK's poller at LRO latencies 0, 0.3 s and 1.5 s;
* starting the tests' redis-server on TCP (the chosen way, ``tests/redisserver.py``) and,
  for comparison, on a unix socket.

    .venv/bin/python -m tests.benchmarks.timings
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import redis
from azure.identity import ClientSecretCredential

from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.testing import EmulatorProcess
from tests.conftest import Clients, make_clients
from tests.emulator.compute.helpers import copy_of, empty_disk
from tests.emulator.storage.conftest import MIB, Account
from tests.emulator.storage.test_copyengine import PAIR, sas_url, source_blob, watch
from tests.emulator.test_inspect import upload_disk
from tests.redisserver import RedisServer, redis_server_binary

GIB = 1024 * MIB


def _seconds(work: Callable[[], object]) -> float:
    start = time.monotonic()
    work()
    return time.monotonic() - start


def _account(clients: Clients, env: dict[str, str], rg: str, location: str) -> Account:
    name = f"st{uuid.uuid4().hex[:12]}"
    body = {"location": location, "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}
    made = clients.storage.storage_accounts.begin_create(rg, name, body).result()
    key = clients.storage.storage_accounts.list_keys(rg, name).keys_property[0].value
    return Account(name, key, made.id, location, f"{env['DISKFERRY_BLOB_ENDPOINT']}/{name}")


def copies(clients: Clients, env: dict[str, str], admin: AdminClient, rg: str) -> None:
    near, far = _account(clients, env, rg, "westeurope"), _account(clients, env, rg, "brazilsouth")
    src, _ = source_blob(near, 6 * MIB)
    admin.set(copy_bandwidth_pairs={PAIR: 2 * MIB})
    dest = far.container().get_blob_client("copy.vhd")
    dest.start_copy_from_url(sas_url(near, src))
    print(f"copy engine: 6 MiB at 2 MiB/s            {watch(dest).seconds:6.2f} s (ideal 3.00)")
    big = near.container().get_blob_client("big.vhd")
    big.create_page_blob(1024 * GIB)
    for offset, length in ((0, MIB), (512 * GIB, 4096), (1024 * GIB - 8192, 8192)):
        big.upload_page(os.urandom(length), offset=offset, length=length)
    admin.set(copy_bandwidth_pairs={PAIR: 60 * MIB})
    dest = far.container().get_blob_client("big-copy.vhd")
    dest.start_copy_from_url(sas_url(near, big))
    print(f"copy engine: 1 TiB sparse (1 MiB used)   {watch(dest, timeout=300).seconds:6.2f} s")


def disks(clients: Clients, admin: AdminClient, rg: str, ca: str) -> None:
    size = 1024 * GIB
    writes = [(0, b"boot" * 1024), (size // 2 + 4096, bytes(range(256)) * 8192), (size - 4 * MIB, b"\xff" * 4 * MIB)]
    disk = upload_disk(clients, ca, rg, "huge", size, writes)
    print(f"hash of a 1 TiB sparse disk (6 MiB used) {_seconds(lambda: admin.hash(disk)):6.2f} s")

    def create_snapshot_copy() -> None:
        made = empty_disk(clients, rg, gb=1024)
        copy_of(clients, rg, copy_of(clients, rg, made.id, kind="snapshot").id)

    print(f"1 TiB disk created, snapshotted, copied  {_seconds(create_snapshot_copy):6.2f} s")


def lros(clients: Clients, admin: AdminClient) -> None:
    for latency in (0.0, 0.3, 1.5):
        admin.set(lro_latency=latency)
        name = f"bench-{uuid.uuid4().hex[:8]}"
        clients.resource.resource_groups.create_or_update(name, {"location": "westeurope"})
        took = _seconds(lambda: clients.resource.resource_groups.begin_delete(name).result())  # noqa: B023
        print(f"resource group delete, latency {latency:3.1f} s   {took:6.2f} s")
    admin.set(lro_latency=0.0)


def redis_starts(rounds: int = 10) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tcp = []
        for i in range(rounds):
            server = RedisServer(Path(tmp) / f"tcp{i}")
            tcp.append(_seconds(server.start))
            server.stop()
        unix = []
        for i in range(rounds):
            sock = Path(tmp) / f"u{i}.sock"
            start = time.monotonic()
            proc = subprocess.Popen([redis_server_binary(), "--port", "0", "--unixsocket", str(sock), "--save", "",
                                     "--dir", tmp], stdout=subprocess.DEVNULL)
            client = redis.Redis(unix_socket_path=str(sock))
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.002)
            unix.append(time.monotonic() - start)
            client.close()
            proc.terminate()
            proc.wait()
    print(f"redis-server start, TCP (server binds)   {statistics.median(tcp) * 1000:6.1f} ms median of {rounds}")
    print(f"redis-server start, unix socket          {statistics.median(unix) * 1000:6.1f} ms median of {rounds}")


def main() -> None:
    redis_starts()
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess(Path(tmp) / "state") as emulator:
        env = emulator.env
        os.environ["REQUESTS_CA_BUNDLE"] = env["REQUESTS_CA_BUNDLE"]
        credential = ClientSecretCredential(env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"],
                                            authority=env["AZURE_AUTHORITY_HOST"], disable_instance_discovery=True)
        clients = make_clients(credential, env)
        admin = emulator.admin()
        admin.set(lro_latency=0.0)
        rg = f"bench-{uuid.uuid4().hex[:8]}"
        clients.resource.resource_groups.create_or_update(rg, {"location": "francecentral"})
        lros(clients, admin)
        copies(clients, env, admin, rg)
        disks(clients, admin, rg, env["REQUESTS_CA_BUNDLE"])
        admin.close()


if __name__ == "__main__":
    main()
