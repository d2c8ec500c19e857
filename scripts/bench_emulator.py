#!/usr/bin/env python3
"""How fast the local Azure answers while 1,000 copies are in flight.

Starts an emulator on a temporary state dir, creates source page blobs in one storage
account and ``--copies`` copies of them into an account in another region, slows the copy
engine (``copy_bandwidth``) so that every copy stays ``pending``, then measures for
``--duration`` seconds each, from ``--processes`` client processes of ``--threads``
keep-alive connections each:

* Get Blob Properties (HEAD on the copies' destination blobs, with a container SAS);
* ARM GETs (Get Storage Account Properties, bearer token).

It prints requests per second, p50/p99 latency, the CPU used by the clients and by the
emulator (so that a client-bound run shows as such), and whether the targets of the
issue hold (>= 300 Get Blob Properties/s and >= 500 ARM GETs/s). Targets are reported,
not asserted: the exit status is non-zero only when a request or the setup failed.

``--client async`` (default) sends the requests from one aiohttp event loop per process,
the cheapest client per request, so that on a 2-core machine the emulator rather than the
client saturates; ``--client raw`` uses a ``requests`` session per thread; ``--client sdk``
goes through azure-storage-blob and azure-mgmt-storage, as diskferry does. ``--quick`` runs
a tiny version in seconds.

    .venv/bin/python scripts/bench_emulator.py            # the full run (~1 minute)
    .venv/bin/python scripts/bench_emulator.py --quick    # smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import ssl
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import requests
from azure.core.pipeline.transport import RequestsTransport
from azure.identity import ClientSecretCredential
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient
from azure.mgmt.storage.models import Sku, StorageAccountCreateParameters
from azure.storage.blob import (
    BlobClient,
    BlobServiceClient,
    ContainerSasPermissions,
    generate_blob_sas,
    generate_container_sas,
)

from diskferry.emulator.testing import EmulatorProcess

ARM_SCOPE = "https://management.azure.com/.default"
#: what azure-mgmt-storage 25 sends (the emulator accepts any api-version)
STORAGE_API_VERSION = "2026-09-01"
TARGETS = {"blob": 300.0, "arm": 500.0}
REGIONS = ("francecentral", "westeurope")
MIB = 1024 * 1024


@dataclass
class Plan:
    sources: int
    copies: int
    duration: float
    processes: int
    threads: int
    client: str
    #: bytes per second per copy while measuring: low enough that no copy finishes
    copy_bandwidth: float
    #: allocated bytes written into each source blob
    source_bytes: int
    source_size: int


@dataclass
class Target:
    """What a client process needs to send one kind of request; secrets stay in memory."""

    kind: str  # "blob" | "arm"
    urls: list[str]
    headers: dict[str, str]
    ca_bundle: str
    #: the emulator's ``azure.env``, for --client sdk (ARM credentials)
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Share:
    """What one client process measured inside the common window."""

    count: int = 0
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0


# ---------------------------------------------------------------------------------------
# client processes


def _raw_caller(target: Target) -> Any:
    session = requests.Session()
    session.verify = target.ca_bundle
    session.headers.update(target.headers)
    method = session.head if target.kind == "blob" else session.get

    def call(url: str) -> str | None:
        r = method(url, timeout=30)
        if r.status_code != 200:
            return f"{r.status_code} {r.headers.get('x-ms-error-code', '')}".strip()
        return None

    return call


def _sdk_caller(target: Target) -> Any:
    if target.kind == "blob":
        # one keep-alive session for all blobs, as diskferry's one client per account shares it
        transport = RequestsTransport(session=requests.Session(), session_owner=False)
        clients: dict[str, BlobClient] = {}

        def call_blob(url: str) -> str | None:
            client = clients.get(url)
            if client is None:
                client = clients[url] = BlobClient.from_blob_url(
                    url, connection_verify=target.ca_bundle, transport=transport
                )
            client.get_blob_properties()
            return None

        return call_blob
    storage = StorageManagementClient(
        credential_from(target.env),
        target.env["AZURE_SUBSCRIPTION_ID"],
        base_url=target.env["DISKFERRY_ARM_ENDPOINT"],
        credential_scopes=[ARM_SCOPE],
        connection_verify=target.ca_bundle,
    )

    def call_arm(url: str) -> str | None:
        rg, name = url.split("/")
        storage.storage_accounts.get_properties(rg, name)
        return None

    return call_arm


def client_process(target: Target, client: str, threads: int, start_at: float, duration: float) -> Share:
    """Run ``threads`` loops from ``start_at`` (wall clock) for ``duration`` seconds."""
    if client == "async":
        return asyncio.run(_async_client(target, threads, start_at, duration))
    os.environ["REQUESTS_CA_BUNDLE"] = target.ca_bundle
    share = Share()
    lock = threading.Lock()
    callers = [(_raw_caller if client == "raw" else _sdk_caller)(target) for _ in range(threads)]
    for call in callers:  # open the keep-alive connections (and get tokens) before the window
        call(target.urls[0])

    def loop(call: Any, seed: int) -> None:
        rnd = random.Random(seed)
        mine: list[float] = []
        errors: list[str] = []
        while time.time() < start_at:
            time.sleep(0.001)
        end = start_at + duration
        while True:
            t0 = time.perf_counter()
            if time.time() >= end:
                break
            try:
                problem = call(rnd.choice(target.urls))
            except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                problem = f"{type(exc).__name__}: {str(exc)[:200]}"
            mine.append((time.perf_counter() - t0) * 1000)
            if problem is not None:
                errors.append(problem)
        with lock:
            share.count += len(mine)
            share.latencies_ms.extend(mine)
            share.errors += len(errors)
            share.first_errors.extend(errors[: 3 - len(share.first_errors)])

    workers = [threading.Thread(target=loop, args=(c, i)) for i, c in enumerate(callers)]
    while time.time() < start_at:
        time.sleep(0.001)
    cpu0 = time.process_time()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    share.cpu_seconds = time.process_time() - cpu0
    return share


async def _async_client(target: Target, connections: int, start_at: float, duration: float) -> Share:
    """``connections`` concurrent keep-alive requests from one event loop (aiohttp): the
    cheapest client per request, so that on a small machine the emulator is what saturates."""
    share = Share()
    ssl_ctx = ssl.create_default_context(cafile=target.ca_bundle)
    connector = aiohttp.TCPConnector(limit=connections, ssl=ssl_ctx)
    async with aiohttp.ClientSession(connector=connector, headers=target.headers) as session:
        method = session.head if target.kind == "blob" else session.get

        async def once(url: str) -> str | None:
            async with method(url) as r:
                await r.read()
                if r.status != 200:
                    return f"{r.status} {r.headers.get('x-ms-error-code', '')}".strip()
            return None

        await asyncio.gather(*(once(target.urls[0]) for _ in range(connections)))  # open the connections

        async def loop(seed: int) -> None:
            rnd = random.Random(seed)
            end = start_at + duration
            while time.time() < end:
                t0 = time.perf_counter()
                try:
                    problem = await once(rnd.choice(target.urls))
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    problem = f"{type(exc).__name__}: {str(exc)[:200]}"
                share.latencies_ms.append((time.perf_counter() - t0) * 1000)
                share.count += 1
                if problem is not None:
                    share.errors += 1
                    if len(share.first_errors) < 3:
                        share.first_errors.append(problem)

        await asyncio.sleep(max(0.0, start_at - time.time()))
        cpu0 = time.process_time()
        await asyncio.gather(*(loop(i) for i in range(connections)))
        share.cpu_seconds = time.process_time() - cpu0
    return share


def _machine_busy() -> float:
    """CPU seconds all processes of the machine have used so far (Linux /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(target: Target, plan: Plan, emulator_pid: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    start_at = time.time() + 1.5 + 0.5 * plan.processes  # spawned interpreters need a moment
    with ctx.Pool(plan.processes) as pool:
        pending = [
            pool.apply_async(client_process, (target, plan.client, plan.threads, start_at, plan.duration))
            for _ in range(plan.processes)
        ]
        while time.time() < start_at:
            time.sleep(0.001)
        emu0, busy0 = _proc_cpu(emulator_pid), _machine_busy()
        time.sleep(plan.duration)
        emu_cpu, busy = _proc_cpu(emulator_pid) - emu0, _machine_busy() - busy0
        shares = [p.get(timeout=plan.duration + 120) for p in pending]
    latencies = sorted(x for s in shares for x in s.latencies_ms)
    count = sum(s.count for s in shares)
    client_cpu = sum(s.cpu_seconds for s in shares)
    return {
        "requests": count,
        "errors": sum(s.errors for s in shares),
        "first_errors": [e for s in shares for e in s.first_errors][:5],
        "per_second": count / plan.duration,
        "p50_ms": _pct(latencies, 50),
        "p99_ms": _pct(latencies, 99),
        "mean_ms": statistics.fmean(latencies) if latencies else 0.0,
        "client_cpu_cores": client_cpu / plan.duration,
        "emulator_cpu_cores": emu_cpu / plan.duration,
        # CPU used by everything else on the machine meanwhile: a busy machine skews the figures
        "other_cpu_cores": max(0.0, busy - emu_cpu - client_cpu) / plan.duration,
        # the emulator's own cost per answer: its capacity on one core is 1000 / this
        "emulator_cpu_ms_per_request": emu_cpu * 1000 / count if count else 0.0,
        "connections": plan.processes * plan.threads,
    }


def _pct(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(pct / 100 * (len(sorted_values) - 1)))
    return sorted_values[index]


# ---------------------------------------------------------------------------------------
# setup through the SDKs


@dataclass
class World:
    env: dict[str, str]
    rg: str
    accounts: list[tuple[str, str]]  # (name, key): source account, destination account
    blob_urls: list[str]  # (name: account URL)
    dest_container_sas: str
    destinations: list[str]
    copy_start_seconds: float
    pending_before: int
    #: x-ms-version the installed azure-storage-blob sends
    blob_api_version: str


def credential_from(env: dict[str, str]) -> ClientSecretCredential:
    """The emulator's service principal, as ``azure.env`` describes it."""
    return ClientSecretCredential(
        env["AZURE_TENANT_ID"],
        env["AZURE_CLIENT_ID"],
        env["AZURE_CLIENT_SECRET"],
        authority=env["AZURE_AUTHORITY_HOST"],
        disable_instance_discovery=True,
    )


def _clients(env: dict[str, str]) -> tuple[ResourceManagementClient, StorageManagementClient]:
    credential = credential_from(env)
    sub = env["AZURE_SUBSCRIPTION_ID"]
    kw: dict[str, Any] = {"base_url": env["DISKFERRY_ARM_ENDPOINT"], "credential_scopes": [ARM_SCOPE]}
    return ResourceManagementClient(credential, sub, **kw), StorageManagementClient(credential, sub, **kw)


def build(emu: EmulatorProcess, plan: Plan, say: Any) -> World:
    env = emu.env
    resources, storage = _clients(env)
    rg = "bench"
    resources.resource_groups.create_or_update(rg, {"location": REGIONS[0]})
    accounts, urls = [], []
    for region in REGIONS:
        name = f"bench{uuid.uuid4().hex[:10]}"
        params = StorageAccountCreateParameters(sku=Sku(name="Standard_LRS"), kind="StorageV2", location=region)
        storage.storage_accounts.begin_create(rg, name, params).result()
        keys = storage.storage_accounts.list_keys(rg, name).keys_property or []
        endpoints = storage.storage_accounts.get_properties(rg, name).primary_endpoints
        assert endpoints is not None and endpoints.blob is not None
        accounts.append((name, str(keys[0].value)))
        urls.append(endpoints.blob.rstrip("/"))
    ca = env["REQUESTS_CA_BUNDLE"]
    src_svc = BlobServiceClient(urls[0], credential=accounts[0][1], connection_verify=ca)
    dst_svc = BlobServiceClient(urls[1], credential=accounts[1][1], connection_verify=ca)
    src_svc.create_container("src")
    dst_svc.create_container("dst")

    say(
        f"creating {plan.sources} source page blobs "
        f"({plan.source_size // MIB} MiB, {plan.source_bytes // 1024} KiB written)"
    )
    expiry = datetime.now(UTC) + timedelta(hours=3)
    sources = []
    for i in range(plan.sources):
        blob = src_svc.get_blob_client("src", f"disk{i:03d}.vhd")
        blob.create_page_blob(plan.source_size)
        chunk = min(plan.source_bytes, 4 * MIB)
        for offset in range(0, plan.source_bytes, chunk):
            blob.upload_page(os.urandom(chunk), offset=offset, length=chunk)
        sas = generate_blob_sas(
            accounts[0][0], "src", blob.blob_name, account_key=accounts[0][1], permission="r", expiry=expiry
        )
        sources.append(f"{blob.url}?{sas}")

    admin = emu.admin()
    # the emulator's own speed is measured here, not Azure's ARM throttling (25 reads/s)
    admin.set(copy_bandwidth=plan.copy_bandwidth, copy_bandwidth_pairs={}, arm_throttling=False)
    say(f"starting {plan.copies} copies into {REGIONS[1]} at {plan.copy_bandwidth:.0f} B/s each")
    t0 = time.monotonic()

    def start(i: int) -> str:
        blob = dst_svc.get_blob_client("dst", f"copy{i:04d}.vhd")
        result = blob.start_copy_from_url(sources[i % len(sources)])
        if result.get("copy_status") not in ("pending", "success"):
            raise RuntimeError(f"copy {i} started as {result.get('copy_status')}")
        return blob.url

    with ThreadPoolExecutor(16) as pool:
        destinations = list(pool.map(start, range(plan.copies)))
    copy_start = time.monotonic() - t0
    container = dst_svc.get_container_client("dst")
    pending = sum(1 for b in container.list_blobs(include=["copy"]) if b.copy.status == "pending")
    container_sas = generate_container_sas(
        accounts[1][0], "dst", account_key=accounts[1][1], permission=ContainerSasPermissions(read=True), expiry=expiry
    )
    admin.close()
    return World(env, rg, accounts, urls, container_sas, destinations, copy_start, pending, dst_svc.api_version)


def count_pending(world: World) -> int:
    svc = BlobServiceClient(
        world.blob_urls[1], credential=world.accounts[1][1], connection_verify=world.env["REQUESTS_CA_BUNDLE"]
    )
    return sum(1 for b in svc.get_container_client("dst").list_blobs(include=["copy"]) if b.copy.status == "pending")


def blob_target(world: World) -> Target:
    return Target(
        kind="blob",
        urls=[f"{u}?{world.dest_container_sas}" for u in world.destinations],
        headers={"x-ms-version": world.blob_api_version},
        ca_bundle=world.env["REQUESTS_CA_BUNDLE"],
    )


def arm_target(world: World) -> Target:
    env = world.env
    token = credential_from(env).get_token(ARM_SCOPE).token
    base = f"{env['DISKFERRY_ARM_ENDPOINT']}/subscriptions/{env['AZURE_SUBSCRIPTION_ID']}/resourceGroups/{world.rg}"
    return Target(
        kind="arm",
        urls=[
            f"{base}/providers/Microsoft.Storage/storageAccounts/{name}?api-version={STORAGE_API_VERSION}"
            for name, _ in world.accounts
        ],
        headers={"Authorization": f"Bearer {token}"},
        ca_bundle=env["REQUESTS_CA_BUNDLE"],
        env=env,
    )


def _sdk_urls(target: Target, world: World) -> Target:
    """--client sdk names the account by ``rg/name`` for ARM; blob URLs stay SAS URLs."""
    if target.kind == "arm":
        target.urls = [f"{world.rg}/{name}" for name, _ in world.accounts]
    return target


# ---------------------------------------------------------------------------------------
# command line


def parse(argv: list[str] | None) -> tuple[Plan, argparse.Namespace]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="a tiny run in seconds (smoke test)")
    ap.add_argument("--sources", type=int, default=10, help="source page blobs (default 10)")
    ap.add_argument("--copies", type=int, default=1000, help="copies in flight (default 1000)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per measurement (default 10)")
    ap.add_argument("--processes", type=int, default=2, help="client processes (default 2)")
    ap.add_argument("--threads", type=int, default=8, help="connections per client process (default 8)")
    ap.add_argument(
        "--client", choices=("async", "raw", "sdk"), default="async", help="request library (default async)"
    )
    ap.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    ap.add_argument("--keep", type=Path, help="use this state dir and keep it (default: a temporary one)")
    args = ap.parse_args(argv)
    if args.quick:
        plan = Plan(
            sources=2,
            copies=20,
            duration=1.0,
            processes=1,
            threads=2,
            client=args.client,
            copy_bandwidth=1024,
            source_bytes=256 * 1024,
            source_size=4 * MIB,
        )
    else:
        plan = Plan(
            sources=args.sources,
            copies=args.copies,
            duration=args.duration,
            processes=args.processes,
            threads=args.threads,
            client=args.client,
            copy_bandwidth=4096,
            source_bytes=4 * MIB,
            source_size=1024 * MIB,
        )
    return plan, args


def run(plan: Plan, state_dir: Path) -> dict[str, Any]:
    def say(msg: str) -> None:
        print(f"  {msg}", flush=True)

    with EmulatorProcess(state_dir) as emu:
        assert emu.proc is not None
        os.environ["REQUESTS_CA_BUNDLE"] = emu.env["REQUESTS_CA_BUNDLE"]
        t0 = time.monotonic()
        world = build(emu, plan, say)
        say(
            f"setup {time.monotonic() - t0:.1f}s; copies started in {world.copy_start_seconds:.1f}s "
            f"({plan.copies / max(world.copy_start_seconds, 1e-9):.0f}/s); {world.pending_before} pending"
        )
        results: dict[str, Any] = {"plan": asdict(plan), "pending_before": world.pending_before}
        # what the copy engine alone costs with every copy in flight and no requests
        idle = min(plan.duration, 5.0)
        emu0 = _proc_cpu(emu.proc.pid)
        time.sleep(idle)
        results["idle_emulator_cpu_cores"] = (_proc_cpu(emu.proc.pid) - emu0) / idle
        results["cores"] = os.cpu_count()
        for kind, make in (("blob", blob_target), ("arm", arm_target)):
            target = make(world)
            if plan.client == "sdk":
                target = _sdk_urls(target, world)
            say(f"measuring {kind} for {plan.duration:g}s with {plan.processes}x{plan.threads} {plan.client} clients")
            results[kind] = measure(target, plan, emu.proc.pid)
        results["pending_after"] = count_pending(world)
    return results


def report(results: dict[str, Any]) -> list[str]:
    """Print the figures; returns the problems (errors) that make the exit status non-zero."""
    names = {"blob": "Get Blob Properties", "arm": "ARM GET (storage account)"}
    problems = []
    print()
    print(
        f"{'operation':<28}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}{'client CPU':>11}"
        f"{'emulator CPU':>13}{'other CPU':>10}{'emu ms/req':>11}  target"
    )
    for kind in ("blob", "arm"):
        r = results[kind]
        verdict = "met" if r["per_second"] >= TARGETS[kind] else "MISSED"
        print(
            f"{names[kind]:<28}{r['per_second']:>8.0f}{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}{r['errors']:>7}"
            f"{r['client_cpu_cores']:>10.2f}c{r['emulator_cpu_cores']:>12.2f}c{r['other_cpu_cores']:>9.2f}c"
            f"{r['emulator_cpu_ms_per_request']:>11.2f}  >= {TARGETS[kind]:.0f}/s {verdict}"
        )
        if r["errors"]:
            problems.append(f"{names[kind]}: {r['errors']} errors, e.g. {r['first_errors']}")
    print(
        f"copies pending before/after: {results['pending_before']}/{results['pending_after']} "
        f"of {results['plan']['copies']}; emulator CPU with no requests: "
        f"{results['idle_emulator_cpu_cores']:.2f} cores (the copy engine); machine: {results['cores']} cores"
    )
    busy = max(results[k]["other_cpu_cores"] for k in ("blob", "arm"))
    if busy > 0.3:
        print(f"note: other processes used up to {busy:.2f} cores during the measurement; figures are low")
    return problems


def main(argv: list[str] | None = None) -> int:
    plan, args = parse(argv)
    print(
        f"bench_emulator: {plan.copies} copies in flight, {plan.duration:g}s per measurement, "
        f"{plan.processes} processes x {plan.threads} connections ({plan.client})",
        flush=True,
    )
    try:
        if args.keep is not None:
            results = run(plan, args.keep)
        else:
            with tempfile.TemporaryDirectory(prefix="bench-emulator-") as tmp:
                results = run(plan, Path(tmp) / "state")
    except Exception as exc:  # noqa: BLE001 - a failed setup is reported and exits non-zero
        print(f"bench_emulator: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    problems = report(results)
    if results["pending_before"] < plan.copies or results["pending_after"] < plan.copies:
        print("note: some copies were not pending during the measurement")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
