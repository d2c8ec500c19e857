"""The fleet benchmark: N destination disks through real workers on the local Azure.

Seeds N/2 VMs of one sparse disk each (1 GiB nominal, ``--data-mib`` of data) in
francecentral, sets the emulator's copy bandwidth so that every copy takes ``--copy-seconds``
(T), starts its own redis-server and ``--workers`` celery workers (``--concurrency`` each),
warms the fleet up with a job of 16 disks (at full copy speed, unthrottled: the pool processes
open their connections), then submits one job that replicates every VM to westeurope and
brazilsouth, and follows it to its end. Then it runs the manual method — snapshot, grant, Copy Blob, poll every 10 s,
import, revoke; one disk at a time — on ``--manual-disks`` disks and extrapolates it to N,
and times ``diskferry status`` and the live view on a synthetic job of ``--views-disks``
disks. Prints one table and writes (or replaces) its section of ``docs/benchmarks.md``.

    .venv/bin/python scripts/bench_fleet.py --disks 20 --copy-seconds 90

Figures (all from the one run):

* makespan: submit → every disk replicated and every cleanup done; ideal: the fastest path of
  one disk in this run (submit → first copy started, T, a pair's last copy end → its cleanup
  done), or the job's ARM writes at Azure's 10 writes/s per subscription and region
  (DESIGN.md) past the 200-write bucket when longer and ``--throttling on`` (the default, as in
  Azure; seeding always runs unthrottled); ratio =
  makespan / ideal;
* ramp: submit → the last copy started (the record's ``started``);
* detection lag: when the fleet saw a disk's copy ended (the record's ``copied_at``) minus when
  Azure says it ended (``copy_completed``, ``x-ms-copy-completion-time``); and as the follower
  saw it (sampled every ``--sample-seconds``) against started + T;
* machine CPU busy: /proc/stat over the ramp, the copies alone and the wind-down (every
  process on the machine: near 100 %, the run is CPU-bound); and in the same windows each
  process's CPU (/proc/<pid>/stat): the workers (and their kernel time), the local Azure,
  Redis, and this process (the producer's ``submit`` and the follower);
* copy time in the local Azure: the record's ``started`` to Azure's completion time, T when
  the local Azure's copy engine keeps up;
* calls: the emulator's counters (status calls = Get Blob Properties + List Blobs), 429s:
  throttled answers that the workers logged and that the local Azure counted;
* Redis memory: ``used_memory`` over its level before the job (the fleet warm and idle), at
  the moment most disks were copying, per disk copying, and how MEMORY STATS splits that
  growth (the keys' data, the clients' buffers); after the job, per disk, and the job
  record's own keys;
* worker CPU: user + system time of every worker process and its pool children;
* Redis: commands (INFO commandstats) and bytes in + out (INFO stats) during the job (one
  server: broker, results and job records), per disk and per minute of a disk in flight
  (its copy started → its end seen).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import redis
from celery import Celery
from rich.console import Console
from sim_polling import Copy as SimCopy  # scripts/, beside this one
from sim_polling import adaptive

from diskferry.cloud import Cloud, CopyState
from diskferry.cloud.compute import access_sas
from diskferry.config.settings import Settings
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.seed import SeedSpec, seed
from diskferry.emulator.testing import EmulatorProcess
from diskferry.model import Phase
from diskferry.pipeline.cleanup import CLEANED
from diskferry.pipeline.polling import PollPolicy
from diskferry.producer import api, views
from diskferry.producer.follow import Snapshot
from diskferry.producer.jobfile import parse
from diskferry.producer.localfleet import LocalFleet, unwind_on_sigterm
from diskferry.producer.localredis import RedisServer
from diskferry.producer.progress import JobProgress
from diskferry.state import JobStore, disk_field
from diskferry.tasks.app import make_app
from diskferry.vault import new_key

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
REGIONS = ("westeurope", "brazilsouth")
#: Azure's ARM write budget per subscription and region (token bucket refill, DESIGN.md)
ARM_WRITES_PER_SECOND = 10.0
ARM_WRITE_BUCKET = 200
#: the manual method's sleep loop
MANUAL_POLL_SECONDS = 10.0
#: how a 429 shows in the workers' logs (Azure's code, the HTTP reason, a logged status)
_THROTTLED = re.compile(r"TooManyRequests|429 Too Many Requests|status(?:_code)?[=: ]+429\b", re.I)
_ENDED = {Phase.copied, Phase.importing, Phase.imaging, Phase.succeeded, Phase.failed}


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A redis-server of our own on a loopback port it binds itself; stopped by its pid."""
    with RedisServer(workdir) as server:
        yield server.url().rsplit("/", 1)[0]


def fleet_env(azure_env: dict[str, str], redis_base: str, concurrency: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISKFERRY_", "AZURE_"))}
    env.update(azure_env)
    env.update({
        "DISKFERRY_BROKER_URL": f"{redis_base}/1", "DISKFERRY_RESULT_BACKEND": f"{redis_base}/2",
        "DISKFERRY_STATE_URL": f"{redis_base}/3", "DISKFERRY_VAULT_KEY": new_key(),
        "DISKFERRY_CONCURRENCY": str(concurrency), "PYTHONUNBUFFERED": "1",
    })
    return env


def _cpu_seconds(pid: int, system: bool | None = None) -> float:
    """User + system seconds of a process; with ``system`` True or False, only one of them."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    user, sys_ = int(fields[11]), int(fields[12])
    return (sys_ if system else user if system is False else user + sys_) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pids: list[int], system: bool | None = None) -> float:
    """User + system seconds of ``pids`` and all their living descendants (a prefork pool);
    with ``system`` True or False, only one of them."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    total, todo = 0.0, list(pids)
    while todo:
        pid = todo.pop()
        total += _cpu_seconds(pid, system)
        todo += children.get(pid, [])
    return total


def machine_busy() -> float:
    """CPU seconds every core of the machine spent busy since boot (/proc/stat: all but idle
    and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def redis_figures(client: redis.Redis) -> tuple[Counter[str], int]:
    """(commands run by name, bytes in + out) since the server started."""
    commands = Counter({name.removeprefix("cmdstat_"): int(v["calls"])
                        for name, v in _info(client, "commandstats").items()})
    stats = _info(client, "stats")
    return commands, int(stats["total_net_input_bytes"]) + int(stats["total_net_output_bytes"])


def spread(values: list[float]) -> str:
    """p50 / p90 / max of some seconds."""
    return f"{pct(values, 0.5):.1f} / {pct(values, 0.9):.1f} / {max(values, default=math.nan):.1f} s"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@dataclass
class Run:
    figures: dict[str, str] = field(default_factory=dict)

    def put(self, name: str, value: str) -> None:
        self.figures[name] = value
        print(f"  {name}: {value}", flush=True)


def seed_vms(env: dict[str, str], rg: str, count: int, data_mib: float, regions: int = 3) -> list[str]:
    vms = [{"name": f"vm{i:04}", "os_disk": 1} for i in range(count)]
    done = seed(env, SeedSpec.model_validate({"resource_group": rg, "location": "francecentral",
                                              "data_mib": data_mib, "regions": regions, "vms": vms}))
    return [item.name for item in done.items]


def _info(client: redis.Redis, section: str) -> dict[str, Any]:
    """INFO ``section`` (redis-py types its sync answers as possibly awaitable)."""
    return cast(dict[str, Any], client.info(section))


def _usage(client: redis.Redis, key: str | bytes) -> int:
    """MEMORY USAGE of ``key``, every field counted (SAMPLES 0); 0 once it is gone."""
    return int(cast(int | None, client.memory_usage(key, samples=0)) or 0)


def used_memory(client: redis.Redis) -> int:
    return int(_info(client, "memory")["used_memory"])


def record_bytes(client: redis.Redis, key: str, samples: Path | None = None) -> tuple[int, str]:
    """Memory of a job's record and every key under it (MEMORY USAGE), and what takes it: the
    record's fields by kind (their JSON's length) and the other keys by kind. ``samples``: a
    file to write the longest field of each kind to (what the record holds, for reading)."""
    parts: dict[str, int] = {}
    longest: dict[str, tuple[str, str]] = {}
    for raw_name, raw_value in cast(dict[bytes, bytes], client.hgetall(key)).items():
        name, value = raw_name.decode(), raw_value.decode()
        kind = name.split("|", 1)[0]
        parts[kind] = parts.get(kind, 0) + len(raw_name) + len(raw_value)
        if len(value) > len(longest.get(kind, ("", ""))[1]):
            longest[kind] = (name, value)
    if samples is not None:
        samples.parent.mkdir(parents=True, exist_ok=True)
        samples.write_text("".join(f"{name}\n{value}\n\n" for name, value in longest.values()))
    # every field counted (SAMPLES 0): Redis' default estimate from 5 fields of a hash whose
    # fields differ in size (a source's spec, a disk's state) was off by 15 % either way
    total = _usage(client, key)
    for other in client.scan_iter(match=f"{key}:*"):
        size = _usage(client, other)
        kind = ":" + other.decode()[len(key) + 1:].split(":", 1)[0]
        parts[kind] = parts.get(kind, 0) + size
        total += size
    top = sorted(parts.items(), key=lambda kv: -kv[1])[:6]
    return total, ", ".join(f"{k} {v / 1024:.0f} KiB" for k, v in top)


@dataclass
class Memory:
    """Redis' memory over its level before the job, at the moment most disks were in flight,
    and what held it then: every key's MEMORY USAGE, summed by database and kind of key."""

    client: redis.Redis
    base: int
    urls: dict[str, str] = field(default_factory=dict)
    inflight: int = 0
    used: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    #: Redis' own account of its memory (MEMORY STATS) before the job, and its growth at the sample
    stats0: dict[str, int] = field(default_factory=dict)
    grown: dict[str, int] = field(default_factory=dict)
    #: the clients that held the most memory at the sample (CLIENT LIST)
    biggest: list[dict[str, Any]] = field(default_factory=list)

    #: the most disks seen in flight, and when they last rose
    peak: int = 0
    rose: float = 0.0
    #: how long the disks in flight must hold still before the sample
    plateau: float = 5.0

    def __post_init__(self) -> None:
        self.stats0 = memory_stats(self.client)

    def sample(self, inflight: int) -> None:
        """Measure once the disks in flight stopped rising for ``plateau`` seconds (or started
        to fall). Not while they rise: the breakdown reads every key's MEMORY USAGE (some
        10,000 round trips at 2,000 disks), which in the ramp took Redis and the machine's CPU
        from the job it measures (33 commands per disk, sampled every 2 s)."""
        now = time.monotonic()
        if inflight > self.peak:
            self.peak, self.rose = inflight, now
            return
        if self.inflight or not inflight or (inflight == self.peak and now - self.rose < self.plateau):
            return
        self.inflight, self.used = inflight, used_memory(self.client) - self.base
        stats = memory_stats(self.client)
        self.grown = {k: v - self.stats0.get(k, 0) for k, v in stats.items()}
        clients = cast(list[dict[str, Any]], self.client.client_list())
        self.biggest = sorted(clients, key=lambda c: -int(c.get("tot-mem", 0)))[:4]
        self.kinds = {}
        for role, url in self.urls.items():
            for kind, size in key_kinds(redis.Redis.from_url(url)).items():
                self.kinds[f"{role} {kind}"] = size

    def figure(self) -> str:
        per = max(1, self.inflight) * 1024
        top = sorted(self.kinds.items(), key=lambda kv: -kv[1])[:6]
        held = "; ".join(f"{k} {v / per:.2f}" for k, v in top)
        # what Redis says the growth is: its keys' data, their overhead (the keyspace's tables,
        # expiry entries), the clients' buffers, the Lua scripts' cache. A client at work holds
        # buffers of about 25 KiB that Redis shrinks once it idles: the fleet's connections,
        # however many disks (0.8 MiB at 200 disks, measured), not the disks' state
        clients = ", ".join(f"{int(c.get('tot-mem', 0)) / 1024:.0f}" for c in self.biggest)
        redis_says = ", ".join(f"{k} {self.grown.get(k, 0) / per:.2f}" for k in _STATS_SHOWN)
        return (f"{self.used / per:.2f} KiB ({self.used / MIB:.1f} MiB over the level before the job, with "
                f"{self.inflight} disks copying; KiB per disk by key: {held}; by MEMORY STATS: {redis_says}; "
                f"{self.grown.get('clients', 0):+d} clients connected, the largest holding {clients} KiB)")


#: the parts of MEMORY STATS the figure shows (its growth over the job)
_STATS_SHOWN = ("dataset.bytes", "overhead.total", "clients.normal", "lua.caches", "overhead.db")


def memory_stats(client: redis.Redis) -> dict[str, int]:
    """MEMORY STATS' byte counts, the databases' overhead summed as ``overhead.db``."""
    out: dict[str, int] = {"clients": int(_info(client, "clients")["connected_clients"])}
    for name, value in cast(dict[str, Any], client.memory_stats()).items():
        if isinstance(value, dict):  # db.N: overhead.hashtable.main / .expires
            out["overhead.db"] = out.get("overhead.db", 0) + sum(int(v) for v in value.values())
        elif isinstance(value, int):
            out[name] = value
    return out


def key_kinds(client: redis.Redis) -> dict[str, int]:
    """MEMORY USAGE of every key of a database, by kind: a key's name up to its first id-like part."""
    kinds: dict[str, int] = {}
    for key in client.scan_iter(count=1000):
        name = key.decode(errors="replace")
        kind = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}.*|[0-9a-f]{12,}.*|\d+$", "*", name)
        kinds[kind] = kinds.get(kind, 0) + _usage(client, key)
    return kinds


@dataclass
class CpuTrace:
    """The workers' CPU seconds over time (every ``every`` seconds), to split their CPU into
    what a poll costs (a window where polls were all they did) and what a disk costs besides."""

    pids: list[int]
    every: float = 2.0
    points: list[tuple[float, float]] = field(default_factory=list)
    #: the whole machine's busy CPU seconds (every process: workers, the local Azure, Redis,
    #: the producer, this follower) at the same times, from /proc/stat
    machine: list[tuple[float, float]] = field(default_factory=list)
    #: the processes whose CPU is split out at the same times (name -> pids, each with its
    #: living descendants but for this process's own entry, which is itself alone)
    roles: dict[str, list[int]] = field(default_factory=dict)
    by_role: list[tuple[float, dict[str, float]]] = field(default_factory=list)

    def sample(self) -> None:
        if not self.points or time.time() - self.points[-1][0] >= self.every:
            self.points.append((time.time(), tree_cpu(self.pids)))
            self.machine.append((time.time(), machine_busy()))
            self.by_role.append((time.time(), {
                **{name: _cpu_seconds(pids[0]) if pids == [os.getpid()] else tree_cpu(pids)
                   for name, pids in self.roles.items()},
                # the kernel's part (system calls, context switches: a Redis round trip costs two)
                "workers in the kernel": tree_cpu(self.pids, system=True)}))

    def role_split(self, start: float, end: float) -> str | None:
        """CPU seconds of each role from ``start`` to ``end``, and its share of a core."""
        inside = [p for p in self.by_role if start <= p[0] <= end]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return None
        span = inside[-1][0] - inside[0][0]
        used = {name: inside[-1][1][name] - inside[0][1].get(name, 0.0) for name in inside[-1][1]}
        return ", ".join(f"{name} {cpu:.1f} s ({100 * cpu / span:.0f} %)" for name, cpu in used.items())

    def machine_share(self, start: float, end: float) -> float | None:
        """How busy the machine's CPUs were from ``start`` to ``end`` (1.0: every core, all along)."""
        inside = [p for p in self.machine if start <= p[0] <= end]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return None
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0]) / (os.cpu_count() or 1)

    def between(self, start: float, end: float) -> tuple[float, float, float] | None:
        """(first, last, CPU seconds between them) of the samples taken from ``start`` to ``end``;
        None when the window holds fewer than two samples."""
        inside = [p for p in self.points if start <= p[0] <= end]
        if len(inside) < 2:
            return None
        return inside[0][0], inside[-1][0], inside[-1][1] - inside[0][1]


#: a worker's log line of a copy poll that found its copy still running (Celery's retry line: a
#: copy task that met a transient error), and a copy watcher's round with the copies it looked at
_POLL_LINE = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}): [^\]]*\] (?:Task diskferry\.copy_disk\[[^\]]*\] retry"
    r"|watcher of job \S+ to \S+: looked at (\d+) copies)")


def poll_times(logs: list[Path]) -> list[float]:
    """When each look at a running copy happened (a watcher's round counts once per copy it
    looked at), from the workers' logs (local time)."""
    out = []
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            m = _POLL_LINE.match(line)
            if m:
                at = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1000
                out += [at] * (int(m.group(3)) if m.group(3) is not None else 1)
    return out


#: a worker's log line of a task run it received (Celery's, at INFO): its time and task name
_RECEIVED_LINE = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}): INFO/MainProcess\] "
                            r"Task diskferry\.(\w+)\[[^\]]+\] received")


def task_runs(logs: list[Path], since: float) -> Counter[str]:
    """The task runs the workers received from ``since`` (epoch seconds) on, by task: what a
    disk costs in Celery's own work (a run's floor: ``scripts/bench_task.py``)."""
    runs: Counter[str] = Counter()
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            m = _RECEIVED_LINE.match(line)
            if m and time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1000 >= since:
                runs[m.group(3)] += 1
    return runs


def cpu_split(cpu: CpuTrace, idle: float, polls: list[float], starts: dict[str, float], copy_seconds: float,
              total: float, disks: int) -> tuple[float, float, int] | None:
    """(CPU per poll, CPU per disk besides polls and idle, polls counted): a poll's cost from the
    window between the last copy's start and the first copy's end, where the fleet does nothing
    but poll (and idle); a disk's other cost is what remains of the job's CPU."""
    start, end = max(starts.values()) + 2, min(starts.values()) + copy_seconds - 2
    window = cpu.between(start, end)
    if window is None:
        return None
    first, last, spent = window
    inside = sum(1 for t in polls if first <= t <= last)
    if not inside:
        return None
    per_poll = max(0.0, spent - idle * (last - first)) / inside
    makespan = cpu.points[-1][0] - cpu.points[0][0]
    fixed = (total - idle * makespan - per_poll * len(polls)) / disks
    return per_poll, fixed, inside


def policy_polls(policy: PollPolicy, duration: float) -> int:
    """Looks the policy takes at a copy at a steady rate that lasts ``duration`` seconds, as
    ``scripts/sim_polling.py`` simulates them (the copy task's runs — the one that starts and
    parks it, the one its watcher wakes at its end — are in the fixed cost)."""
    calls, _ = adaptive(policy, SimCopy.make(duration, None))
    return calls


def follow_job(store: JobStore, job_id: str, sample: float, timeout: float, memory: Memory | None = None,
               cpu: CpuTrace | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """Follow the job to its end: when each destination disk's copy was first seen ended
    (``source|target|disk``), and when each pair's cleanup was first seen done (``source|target``)."""
    snap = Snapshot(store, job_id)
    seen: dict[str, float] = {}
    cleaned: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while True:
        now = time.time()
        for tgt in snap.status.targets():
            if tgt.cleaned:
                cleaned.setdefault(f"{tgt.source}|{tgt.key}", now)
            for d in tgt.disks:
                if d.phase in _ENDED:
                    seen.setdefault(f"{d.source}|{d.target}|{d.key}", now)
        if memory is not None:
            memory.sample(sum(d.phase is Phase.copying for d in snap.status.disks()))
        if cpu is not None:
            cpu.sample()
        if snap.status.done and snap.status.cleaned:
            return seen, cleaned
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} not done after {timeout} s")
        time.sleep(sample)
        snap.refresh()


def ideal_makespan(t0: float, copy_seconds: float, starts: dict[str, float], cleaned: dict[str, float],
                   writes: int, throttling: bool) -> tuple[float, str]:
    """What no scheduling can beat: the fastest lead-in to a copy (submit → first copy started),
    T, and the fastest wind-down of a pair (its last copy's end → its cleanup done), all
    measured in this run; or, under ARM throttling, the job's ARM writes past Azure's bucket
    at its refill rate, when longer."""
    head = min(starts.values()) - t0
    ends: dict[str, float] = {}
    for key, start in starts.items():
        pair = key.rsplit("|", 1)[0]
        ends[pair] = max(ends.get(pair, 0.0), start + copy_seconds)
    tail = min(cleaned[pair] - end for pair, end in ends.items() if pair in cleaned)
    budget = max(0, writes - ARM_WRITE_BUCKET) / ARM_WRITES_PER_SECOND if throttling else 0.0
    path = head + copy_seconds + tail
    how = f"lead-in {head:.1f} s + T + wind-down {tail:.1f} s"
    if throttling:
        how += (f"; throttle floor: {writes} ARM writes - bucket {ARM_WRITE_BUCKET} at {ARM_WRITES_PER_SECOND:g}/s "
                f"= {budget:.0f} s")
    return max(path, budget), how


#: the warm-up job's VMs by default (2 destination disks each): enough for every pool process of
#: the default fleet to run a task, so that its lazily opened connections exist before the baselines
WARM_VMS = 8
WARM_GROUP = "bench-warmup"


def warm_up(admin: AdminClient, store: JobStore, settings: Settings, app: Celery, names: list[str],
            args: argparse.Namespace) -> None:
    """Run a small job on the fleet, at full copy speed and unthrottled, before the baselines.

    A fleet that has not run a job yet has not opened most of its connections: each pool
    process connects to Redis (broker, results, records) and to Azure at its first task.
    Measured from a cold fleet, Redis' memory per in-flight disk counted those clients'
    buffers (MEMORY STATS ``clients.normal``: 0.8 MiB, 4 KiB per disk at 200 disks) as the
    job's; an operator's fleet has run jobs before. Its Azure operations take as long as the
    job's (``--lro-seconds``): the fleet learns how long each kind takes
    (``diskferry.pipeline.waits``) from the Azure it has worked with, not from another one."""
    throttled = args.throttling == "on"
    admin.set(copy_bandwidth=64 * MIB, arm_throttling=False, lro_latency=args.lro_seconds,
              lro_retry_after=args.lro_retry_after)
    doc = {"source": {"resource_group": WARM_GROUP, "vms": names},
           "targets": [{"region": r, "resource_group": f"{WARM_GROUP}-{r}"} for r in REGIONS]}
    started = time.monotonic()
    job_id = api.submit_job(parse(doc), settings=settings, store=store, app=app)
    follow_job(store, job_id, 0.5, timeout=600)
    settle(store, settings, job_id)
    status = store.status(job_id)
    if not status.done or any(d.phase is not Phase.succeeded for d in status.disks()):
        raise SystemExit(f"the warm-up job {job_id} did not succeed: see the workers' logs")
    admin.set(copy_bandwidth=args.data_mib * MIB / args.copy_seconds, arm_throttling=throttled,
              lro_latency=args.lro_seconds, lro_retry_after=args.lro_retry_after)
    print(f"warmed the fleet up with {len(names) * len(REGIONS)} disks in {time.monotonic() - started:.0f} s",
          flush=True)


def settle(store: JobStore, settings: Settings, job_id: str) -> None:
    """Wait until an ended job has dropped what it kept while it ran."""
    # its results are removed (``diskferry.tasks.results``): the last step drops the record's
    # set of cleaned pairs
    deadline = time.monotonic() + 60
    while store.set_size(job_id, CLEANED) and time.monotonic() < deadline:
        time.sleep(0.5)
    # and the job's ``forget`` (a countdown after the job ended; again after the watchdog's last
    # round, within DISKFERRY_WATCHDOG_SECONDS) has dropped the task ids and due times the
    # record needed while the job ran (``cleanup.forget_requests``)
    deadline = time.monotonic() + settings.watchdog_seconds + 30
    while "watchdog" in store.meta(job_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(1)  # the last acks land


def run_fleet(args: argparse.Namespace, emu: EmulatorProcess, redis_base: str, workdir: Path, run: Run) -> None:
    admin = emu.admin()
    vm_count = max(1, args.disks // len(REGIONS))
    started = time.monotonic()
    # the seeding stands in for VMs that exist already: its ARM calls are not the job's, and
    # under Azure's read budget (25/s) 1,000 VMs' worth of LRO polls took many minutes
    admin.set(arm_throttling=False)
    names = seed_vms(emu.env, "bench", vm_count, args.data_mib, args.regions)
    warm_names = seed_vms(emu.env, WARM_GROUP, args.warm_vms, args.data_mib, args.regions) if args.warm_vms else []
    print(f"seeded {len(names)} VMs in {time.monotonic() - started:.0f} s", flush=True)
    env = fleet_env(emu.env, redis_base, args.concurrency)
    if args.fixed_poll:
        # the polling before adaptive polling: every countdown the same
        env.update({name: str(args.fixed_poll) for name in
                    ("DISKFERRY_POLL_SECONDS", "DISKFERRY_POLL_FLOOR_SECONDS", "DISKFERRY_POLL_CEILING_SECONDS")})
    settings = Settings.from_env(env)
    app = make_app(settings)
    store = JobStore.from_url(settings.state_url, settings.job_ttl_seconds)
    rclient = redis.Redis.from_url(redis_base)
    doc = {"source": {"resource_group": "bench", "vms": names},
           "targets": [{"region": r, "resource_group": f"bench-{r}"} for r in REGIONS]}
    fleet = LocalFleet(env, settings, workdir / "logs", workers=args.workers, concurrency=args.concurrency, cwd=ROOT)
    with fleet.start(app):
        pids = [p.pid for p in fleet.procs]
        if warm_names:
            warm_up(admin, store, settings, app, warm_names, args)
        else:
            admin.set(copy_bandwidth=args.data_mib * MIB / args.copy_seconds, arm_throttling=args.throttling == "on",
                      lro_latency=args.lro_seconds, lro_retry_after=args.lro_retry_after)
        time.sleep(2)  # let the workers settle before the baselines
        idle0, idle_t0 = tree_cpu(pids), time.time()
        time.sleep(5)
        idle = (tree_cpu(pids) - idle0) / (time.time() - idle_t0)  # the fleet's CPU per second, idle
        redis_pid = int(_info(rclient, "server")["process_id"])
        azure_pids = [emu.proc.pid] if emu.proc else []
        trace = CpuTrace(pids, roles={"workers": pids, "local Azure": azure_pids, "Redis": [redis_pid],
                                      "producer + follower": [os.getpid()]})
        cpu0, counters0, (cmds0, bytes0) = tree_cpu(pids), admin.counters(), redis_figures(rclient)
        mem0 = used_memory(rclient)
        memory = Memory(rclient, mem0, {"broker": settings.broker_url, "results": settings.result_backend,
                                         "state": settings.state_url}, plateau=min(5.0, args.copy_seconds / 4))
        t0 = time.time()
        trace.sample()
        job_id = api.submit_job(parse(doc), settings=settings, store=store, app=app)
        submit = time.time() - t0
        seen, cleaned = follow_job(store, job_id, args.sample_seconds, timeout=args.copy_seconds * 20 + 3600,
                                   memory=memory, cpu=trace)
        trace.sample()
        makespan = time.time() - t0
        cpu = tree_cpu(pids) - cpu0
        by_command, nbytes = redis_figures(rclient)
        by_command.subtract(cmds0)
        nbytes -= bytes0
        cmds = sum(by_command.values())
        counters = {k: v - counters0.get(k, 0) for k, v in admin.counters().items()}
        cli_status = _cli_output(env, "status", job_id)
        settle(store, settings, job_id)
        after = used_memory(rclient) - mem0
        left = {f"{role} {kind}": size for role, url in memory.urls.items()
                for kind, size in key_kinds(redis.Redis.from_url(url)).items()}
        record, parts = record_bytes(redis.Redis.from_url(settings.state_url), store.key(job_id),
                                     None if args.logs is None else args.logs / "record-fields.txt")
        polls_seen = poll_times(fleet.logs)
        runs = task_runs(fleet.logs, t0)
    if args.logs is not None:
        args.logs.mkdir(parents=True, exist_ok=True)
        for log in fleet.logs:
            shutil.copy(log, args.logs / log.name)
    status = store.status(job_id)
    fields = {f"{d.source}|{d.target}|{d.key}": disk_field(d.source, d.target, d.key) for d in status.disks()}
    raw = store.raw_fields(job_id, list(fields.values()))
    starts = {k: float(json.loads(raw[name] or "{}").get("started") or 0) for k, name in fields.items()}
    disks = len(status.disks())
    ok = sum(d.phase is Phase.succeeded for d in status.disks())
    # when the fleet saw each copy ended (the record's ``copied_at``, written by the round or
    # run that saw it), and when this follower did (it reads the whole job every
    # --sample-seconds, and on a busy machine falls behind: an upper bound)
    docs = {k: json.loads(raw[name] or "{}") for k, name in fields.items()}
    copied_at = {k: float(doc.get("copied_at") or 0) for k, doc in docs.items()}
    # against when Azure says the copy ended (``x-ms-copy-completion-time``): on a machine busy
    # at 90 %, the local Azure's copy engine itself may end a copy a little after started + T
    ended = {k: float(doc.get("copy_completed") or 0) or starts[k] + args.copy_seconds for k, doc in docs.items()}
    lags = [copied_at[k] - ended[k] for k in starts if starts[k] and copied_at.get(k)]
    # how long the local Azure took over each copy (recorded start → its completion time): T
    # when its copy engine keeps up, more when the machine starves it
    durations = [float(doc["copy_completed"]) - starts[k] for k, doc in docs.items()
                 if starts[k] and doc.get("copy_completed")]
    followed = [seen[k] - (starts[k] + args.copy_seconds) for k in seen if starts.get(k)]
    props, listings = counters.get("blob.GetBlobProperties", 0), counters.get("blob.ListBlobs", 0)
    polls = props + listings
    # disk-minutes spent between a copy's start and the follower seeing it end
    inflight = max(1e-9, sum(seen[k] - starts[k] for k in seen if starts.get(k)) / 60)
    arm = {k: v for k, v in counters.items() if not k.startswith(("blob.", "oauth2."))}
    writes = sum(v for k, v in arm.items() if k.endswith(("/write", "/action", "/delete")))
    ideal, how = ideal_makespan(t0, args.copy_seconds, starts, cleaned, writes, args.throttling == "on")
    throttled = sum(len(_THROTTLED.findall(log.read_text(errors="replace"))) for log in fleet.logs)
    refused = sum(v for k, v in counters.items() if k.startswith("arm.throttled."))
    busy = sum(log.read_text(errors="replace").count("SourceBeingPrepared") for log in fleet.logs)
    # a watcher round that could not list its container wakes every due copy, whose tasks then
    # look themselves: the job still ends, so only this count shows a listing that fails
    unlisted = sum(log.read_text(errors="replace").count("cannot list the copies") for log in fleet.logs)
    grants = sum(v for k, v in counters.items() if k.endswith("/beginGetAccess/action"))
    revokes = sum(v for k, v in counters.items() if k.endswith("/endGetAccess/action"))
    blob = sum(v for k, v in counters.items() if k.startswith("blob."))
    split = cpu_split(trace, idle, polls_seen, starts, args.copy_seconds, cpu, disks)
    hour_polls = policy_polls(PollPolicy.of(settings), 3600.0)
    if split is None:
        per_disk_cpu = "not split (no window between the last copy's start and the first copy's end)"
    else:
        per_poll, fixed_cpu, inside = split
        per_disk_cpu = (f"{1000 * fixed_cpu:.0f} ms besides polls + {1000 * per_poll:.1f} ms per poll ({inside} polls "
                        f"timed alone; {len(polls_seen) / disks:.1f} polls per disk here); a 1-hour copy "
                        f"({hour_polls} polls): {1000 * (fixed_cpu + per_poll * hour_polls):.0f} ms; "
                        f"idle fleet {1000 * idle:.0f} ms/s, left out")
    windows = {"ramp": (t0, max(starts.values())),
               "copies alone": (max(starts.values()) + 2, min(starts.values()) + args.copy_seconds - 2),
               "wind-down": (max(starts.values()) + args.copy_seconds, trace.points[-1][0])}
    shares = {name: trace.machine_share(*span) for name, span in windows.items()}
    machine = ", ".join(f"{name} {100 * share:.0f} %" for name, share in shares.items() if share is not None)
    roles = {name: trace.role_split(*span) for name, span in windows.items()}
    figures = {
        "destination disks": f"{disks} ({ok} succeeded), {vm_count} VMs x {len(REGIONS)} regions",
        "copy time T": f"{args.copy_seconds:.0f} s ({args.data_mib:g} MiB at "
                       f"{args.data_mib * MIB / args.copy_seconds / 1024:.1f} KiB/s per copy)",
        "fleet": f"{args.workers} workers x concurrency {args.concurrency}, "
                 f"{f'fixed {args.fixed_poll:g} s' if args.fixed_poll else 'adaptive'} polling, ARM throttling "
                 f"{args.throttling}, Azure's operations taking {args.lro_seconds:g} s "
                 f"{f'(Retry-After {args.lro_retry_after:g} s) ' if args.lro_seconds else ''}"
                 f"(load average {os.getloadavg()[0]:.1f} at the end)",
        "makespan": f"{makespan:.1f} s",
        "ideal": f"{ideal:.1f} s ({how})",
        "ratio": f"{makespan / ideal:.2f}",
        "ramp (submit → last copy started)": f"{max(starts.values()) - t0:.1f} s",
        "detection lag p50 / p90 / max": f"{spread(lags)} ({len(lags)} copies: the record's copied_at - Azure's "
                                         "copy completion time); "
                                         f"as the follower saw it (sampled every {args.sample_seconds:g} s): "
                                         f"{spread(followed)}",
        "copy time in the local Azure p50 / p90 / max": f"{spread(durations)} (T = {args.copy_seconds:g} s; "
                                                        "recorded start → Azure's completion time)",
        "status calls per copy": f"{polls / disks:.2f}: {props} Get Blob Properties + {listings} List Blobs "
                                 f"(fixed 10 s polling: {math.ceil(args.copy_seconds / 10)})",
        "ARM calls per disk": f"{sum(arm.values()) / disks:.1f} ({writes / disks:.1f} writes)",
        "ARM reads per disk, most": ", ".join(
            f"{k} {v / disks:.1f}" for k, v in sorted(((k, v) for k, v in arm.items() if k.endswith("/read")),
                                                     key=lambda kv: -kv[1])[:4]),
        "ARM writes per disk, most": ", ".join(
            f"{k} {v / disks:.2f}" for k, v in sorted(((k, v) for k, v in arm.items() if not k.endswith("/read")),
                                                      key=lambda kv: -kv[1])[:6]),
        "blob calls per disk": f"{blob / disks:.1f}",
        "429s met": f"{throttled} in the workers' logs; {refused} answered by the local Azure",
        "grants / revokes (source SAS)": f"{grants} / {revokes}",
        "Busy re-queues of prepares (source being prepared by its other target)": str(busy),
        "watcher rounds that could not list their copies (every due copy woken instead)": str(unlisted),
        "task runs per disk": f"{sum(runs.values()) / disks:.2f}: " + ", ".join(
            f"{name} {count / disks:.2f}" for name, count in runs.most_common()),
        "worker CPU per disk / per status call":
            f"{1000 * cpu / disks:.0f} ms / {1000 * cpu / max(1, polls):.0f} ms (all worker work divided)",
        "worker CPU per disk, split": per_disk_cpu,
        f"machine CPU busy ({os.cpu_count()} CPUs, every process: workers, local Azure, Redis, producer)": machine,
        "CPU by process (seconds, and % of one core)": "; ".join(
            f"{name}: {split}" for name, split in roles.items() if split is not None),
        "Redis per disk": f"{cmds / disks:.0f} commands, {nbytes / disks / 1024:.0f} KiB",
        "Redis commands per disk, most": ", ".join(f"{k} {v / disks:.0f}" for k, v in by_command.most_common(6)),
        "Redis per in-flight disk and minute": f"{cmds / inflight:.0f} commands, {nbytes / inflight / 1024:.0f} KiB",
        "Redis memory per in-flight disk": memory.figure(),
        "Redis memory after the job": f"{after / disks / 1024:.2f} KiB per disk over the level before it; "
                                      f"the job record {record / disks / 1024:.2f} KiB per disk ({parts}); every "
                                      f"key, KiB per disk: " + "; ".join(
                                          f"{k} {v / disks / 1024:.2f}" for k, v in
                                          sorted(left.items(), key=lambda kv: -kv[1])[:6]),
        "submit": f"{submit:.2f} s",
        "status (CLI: wall, CPU)": f"{cli_status[0]:.2f} s, {cli_status[3]:.2f} s CPU",
    }
    for name, value in figures.items():
        run.put(name, value)


def run_manual(args: argparse.Namespace, emu: EmulatorProcess, run: Run) -> None:
    """The manual method on a few disks: one disk at a time, each region in turn, a 10 s sleep
    loop on the copy; then extrapolated to ``--disks`` destination disks."""
    names = seed_vms(emu.env, "manual", args.manual_disks, args.data_mib)
    settings = Settings.from_env(emu.env)
    cloud = Cloud(settings.azure)
    sub = settings.azure.subscription_id or ""
    accounts = {}
    for region in REGIONS:
        rg, name = f"manual-{region}", f"manual{region[:8]}"
        cloud.storage.ensure_resource_group(sub, rg, region, {})
        cloud.compute.wait(cloud.storage.create_account(sub, rg, name, region, {}))
        account = cloud.storage.get_account(sub, rg, name)
        assert account is not None, f"staging account {name} was not created"
        cloud.storage.ensure_container(account, "vhds")
        accounts[region] = account
    calls, started = 0, time.monotonic()
    for name in names:
        vm = cloud.compute.get_vm(sub, "manual", name)
        disk = vm.disks[0].disk_id
        snap = disk.replace("/disks/", "/snapshots/") + "-snap"
        cloud.compute.wait(cloud.compute.create_snapshot(snap, source_id=disk, location="francecentral", tags={}))
        sas = access_sas(cloud.compute.wait(cloud.compute.grant_read(snap, 3600)).body, f"grant on {snap}")
        for region, account in accounts.items():
            cloud.storage.start_copy(account, "vhds", f"{name}.vhd", sas, {})
            while True:
                time.sleep(MANUAL_POLL_SECONDS)
                calls += 1
                state = cloud.storage.copy_status(account, "vhds", f"{name}.vhd")
                if state is not None and state.state is not CopyState.pending:
                    break
            cloud.compute.wait(cloud.compute.import_disk(
                f"/subscriptions/{sub}/resourceGroups/manual-{region}/providers/Microsoft.Compute/disks/{name}",
                location=region, source_uri=cloud.storage.blob_url(account, "vhds", f"{name}.vhd"),
                storage_account_id=account.id, sku=None, zone=None, os_type="Linux", hyper_v_generation="V2",
                tags={}))
        for end in (cloud.compute.revoke, cloud.compute.delete):  # one after the other, as Azure needs
            op = end(snap)
            if op is not None:
                cloud.compute.wait(op)
    per_disk = (time.monotonic() - started) / (len(names) * len(REGIONS))
    run.put("manual method (sequential, 10 s polling)",
            f"{per_disk:.0f} s per destination disk over {len(names) * len(REGIONS)}; x {args.disks} = "
            f"{per_disk * args.disks / 3600:.2f} h; {calls / (len(names) * len(REGIONS)):.1f} status calls per copy")


def run_views(args: argparse.Namespace, redis_base: str, run: Run) -> None:
    """``diskferry status`` and the live view on a synthetic record of ``--views-disks`` disks."""
    sys.path.insert(0, str(ROOT))
    from tests.producer.synthetic import many_disks  # a benchmark's fixture, shared with the tests

    store = JobStore(redis.Redis.from_url(f"{redis_base}/7", decode_responses=True), 3600)
    job = many_disks(store, max(1, args.views_disks // 2))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISKFERRY_", "AZURE_"))}
    env["DISKFERRY_BROKER_URL"] = f"{redis_base}/7"
    summary = _cli_output(env, "status", job.id)
    every = _cli_output(env, "status", job.id, "--disks")
    run.put(f"status at {args.views_disks} disks (CLI: wall, CPU)",
            f"summary {summary[0]:.2f} s, {summary[3]:.2f} s CPU, {summary[1]} lines, {summary[2] / 1024:.0f} KiB; "
            f"--disks {every[0]:.2f} s, {every[3]:.2f} s CPU, {every[1]} lines, {every[2] / 1024:.0f} KiB "
            f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    snap = Snapshot(store, job.id)
    console = Console(file=io.StringIO(), width=160, force_terminal=True)
    rounds, cpu = args.views_seconds, 0.0
    started = time.monotonic()
    with JobProgress(console) as view:
        for i in range(rounds):
            # 5 % of the disks move each second, as in a busy job (the writes are not the view's cost)
            for d in snap.status.disks()[i % 20::20]:
                if not d.phase.terminal:
                    store.update_disk(job.id, d.source, d.target, d.key, bytes_copied=d.bytes_copied + MIB)
            tick, wall_tick = time.process_time(), time.monotonic()
            snap.refresh()
            view.update(snap.status)
            cpu += time.process_time() - tick
            time.sleep(max(0.0, 1.0 - (time.monotonic() - wall_tick)))
    wall = time.monotonic() - started
    run.put(f"live view at {args.views_disks} disks", f"{100 * cpu / wall:.1f} % of a core over {rounds} s "
            f"(5 % of disks changing per second; {view.redraws} redraws, {1000 * view.cpu / max(1, view.redraws):.0f}"
            f" ms each); first frame {_first_frame(store, job.id):.2f} s")


def _first_frame(store: JobStore, job_id: str) -> float:
    started = time.monotonic()
    Console(file=io.StringIO(), width=160).print(views.summary(Snapshot(store, job_id).status))
    return time.monotonic() - started


def _cli_output(env: dict[str, str], *args: str) -> tuple[float, int, int, float]:
    """(wall seconds, lines, bytes, CPU seconds) of one CLI command."""
    started, cpu = time.monotonic(), _children_cpu()
    out = subprocess.run([sys.executable, "-m", "diskferry.producer.cli", *args], env={**env, "COLUMNS": "160"},
                         cwd=ROOT, capture_output=True, text=True, check=False).stdout
    return time.monotonic() - started, out.count("\n"), len(out.encode()), _children_cpu() - cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def write_doc(path: Path, title: str, command: str, run: Run) -> None:
    """Replace (or add) this run's section of the benchmarks page."""
    text = path.read_text() if path.exists() else (
        "# Benchmarks\n\nFigures from `scripts/bench_fleet.py` on the local Azure; each section says the "
        "command that reproduces it.\n")
    body = "\n".join([f"## {title}", "", f"`{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                      f"{os.cpu_count()} CPUs)", "", "| figure | value |", "|---|---|",
                      *(f"| {k} | {v} |" for k, v in run.figures.items()), ""])
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(body + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + body
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--disks", type=int, default=20, help="destination disks (N/2 VMs to 2 regions)")
    parser.add_argument("--copy-seconds", type=float, default=90.0, help="copy time T of every copy")
    parser.add_argument("--lro-seconds", type=float, default=0.0,
                        help="how long each of Azure's long-running operations takes (snapshot, grant, import...)")
    parser.add_argument("--lro-retry-after", type=float, default=10.0,
                        help="the Retry-After a running operation's answers carry (Azure's providers: 10 s to 10 min; "
                             "an operation shorter than it hints its own length)")
    parser.add_argument("--warm-vms", type=int, default=WARM_VMS,
                        help="VMs of the warm-up job run before the baselines (0: a cold fleet)")
    parser.add_argument("--data-mib", type=float, default=1.0, help="data per (sparse, 1 GiB) disk")
    parser.add_argument("--regions", type=int, default=32,
                        help="separate stretches of data on each disk (a copy's progress leaps between them)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--sample-seconds", type=float, default=0.5, help="how often the follower reads the job")
    parser.add_argument("--manual-disks", type=int, default=1, help="disks the manual method copies (0: skip)")
    parser.add_argument("--views-disks", type=int, default=2000, help="synthetic job for status/live (0: skip)")
    parser.add_argument("--views-seconds", type=int, default=30, help="how long the live view is measured")
    parser.add_argument("--throttling", choices=["on", "off"], default="on",
                        help="the local Azure's ARM throttling during the job (Azure's default budgets)")
    parser.add_argument("--fixed-poll", type=float, default=0.0,
                        help="poll every copy at this fixed interval (the polling before adaptive polling)")
    parser.add_argument("--logs", type=Path, default=None, help="copy the workers' logs into this folder")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md", help="'-': write none")
    args = parser.parse_args()
    unwind_on_sigterm()  # a SIGTERM stops what this run started, as Ctrl-C does
    if args.disks < 2 or args.copy_seconds <= 0 or args.data_mib <= 0 or args.workers < 1 or args.warm_vms < 0 \
            or args.lro_seconds < 0 or args.lro_retry_after <= 0:
        parser.error("need --disks >= 2, --copy-seconds > 0, --data-mib > 0, --workers >= 1, --warm-vms >= 0, "
                     "--lro-seconds >= 0, --lro-retry-after > 0")
    if shutil.which("redis-server") is None:
        parser.error("redis-server is not installed")
    command = "scripts/bench_fleet.py " + " ".join(sys.argv[1:])
    run = Run()
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        workdir = Path(tmp)
        with redis_server(workdir) as redis_base, EmulatorProcess(workdir / "azure") as emu:
            print(f"fleet run: {args.disks} disks, T = {args.copy_seconds:g} s", flush=True)
            run_fleet(args, emu, redis_base, workdir, run)
            if args.manual_disks:
                run_manual(args, emu, run)
            if args.views_disks:
                run_views(args, redis_base, run)
    if str(args.doc) != "-":
        polling = f", fixed {args.fixed_poll:g} s polling" if args.fixed_poll else ""
        title = f"{args.disks} destination disks, T = {args.copy_seconds:g} s, throttling {args.throttling}{polling}"
        write_doc(args.doc, title, command, run)
        print(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
