"""The main job on the local Azure, end to end (run by scripts/demo.sh).

Starts the local Azure, two celery workers and Flower (Redis comes from demo.sh), seeds
francecentral with 3 VMs and 2 images (and a network in brazilsouth), replicates them to
brazilsouth and westeurope with the real `diskferry` CLI (live progress), rebuilding each VM
(MASTER among them) as a VM in brazilsouth, then verifies: every destination disk's content
hash equals its source's, every image has its source's layout, every rebuilt VM holds its
copied disks at its source's LUNs, and the job left nothing behind. Stops everything it
started on the way out; exit 0 only if all of that holds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import redis
from rich.console import Console
from rich.table import Table

from diskferry.cloud import Cloud
from diskferry.config.settings import Settings
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.network.seed import seed_networks
from diskferry.emulator.seed import SeedResult, demo_spec, seed
from diskferry.emulator.testing import EmulatorProcess
from diskferry.model import Phase
from diskferry.producer.localfleet import LocalFleet, unwind_on_sigterm
from diskferry.state import JobStatus, JobStore
from diskferry.tasks.app import make_app
from diskferry.vault import new_key

ROOT = Path(__file__).resolve().parents[1]
JOB_FILE = ROOT / "jobs" / "demo.yaml"
console = Console(highlight=False)


def fleet_env(azure_env: dict[str, str], redis_base: str) -> dict[str, str]:
    """The environment a deployment gives workers and the producer (see config/settings.py)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISKFERRY_", "AZURE_"))}
    env.update(azure_env)
    env.update(
        {
            "DISKFERRY_BROKER_URL": f"{redis_base}/4",
            "DISKFERRY_RESULT_BACKEND": f"{redis_base}/5",
            "DISKFERRY_STATE_URL": f"{redis_base}/6",
            "DISKFERRY_VAULT_KEY": new_key(),
            "DISKFERRY_POLL_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def cli(env: dict[str, str], *args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "diskferry.producer.cli", *args],
        env=env, cwd=ROOT, text=True, capture_output=capture, check=False,
    )


def verify(admin: AdminClient, seeded: SeedResult, job: JobStatus) -> bool:
    sources = {item.name: item for item in seeded.items}
    table = Table(title="verification: destination content = source content", title_justify="left")
    for col in ("source", "disk", "target", "destination", "source sha256", "destination sha256", ""):
        table.add_column(col, overflow="fold")
    ok = True
    for src in job.sources:
        want = {("os" if d.lun is None else f"lun{d.lun}"): d.sha256 for d in sources[src.name].disks}
        for tgt in src.targets:
            if tgt.image_id:
                got = admin.hash(tgt.image_id)["disks"]
                layout = ["os" if d["lun"] is None else f"lun{d['lun']}" for d in got]
                same_layout = layout == list(want)
                ok &= same_layout
                for d, key in zip(got, layout, strict=True):
                    equal = d["sha256"] == want.get(key)
                    ok &= equal
                    table.add_row(src.name, key, tgt.region, f"image {tgt.image_name}", want.get(key, "-")[:16],
                                  d["sha256"][:16], _mark(equal and same_layout))
            for d in tgt.disks:
                if tgt.image_id and d.phase is Phase.succeeded and not d.result_id:
                    continue  # an image's intermediate disk: checked through the image above
                if d.phase is not Phase.succeeded or not d.result_id:
                    ok = False
                    table.add_row(src.name, d.key, tgt.region, d.phase.value, want[d.key][:16], "-", _mark(False))
                    continue
                got_sha = admin.hash(d.result_id)["sha256"]
                equal = got_sha == want[d.key]
                ok &= equal
                table.add_row(src.name, d.key, tgt.region, d.result_name or "", want[d.key][:16], got_sha[:16],
                              _mark(equal))
    console.print(table)
    return ok


def verify_vms(cloud: Cloud, job: JobStatus) -> bool:
    """Each rebuilt VM holds its pair's destination disks: the OS disk, the data disks at the
    source's LUNs."""
    table = Table(title="rebuilt VMs: disks at their LUNs", title_justify="left")
    for col in ("source", "target", "vm", "power", "LUN", "disk", ""):
        table.add_column(col, overflow="fold")
    ok = True
    for src in job.sources:
        for tgt in src.targets:
            if not tgt.vm_name:
                continue
            if not tgt.vm_id:
                ok = False
                table.add_row(src.name, tgt.region, tgt.vm_name, "-", "-", tgt.error.code if tgt.error else "-",
                              _mark(False))
                continue
            vm = cloud.compute.find_vm(tgt.vm_id)
            held = {d.lun: d.disk_id.lower() for d in vm.disks} if vm else {}
            for d in tgt.disks:
                lun = None if d.key == "os" else int(d.key.removeprefix("lun"))
                good = vm is not None and held.get(lun) == (d.result_id or "").lower()
                ok &= good
                table.add_row(src.name, tgt.region, tgt.vm_name, vm.power_state or "-" if vm else "gone",
                              "OS" if lun is None else str(lun), d.result_name or "", _mark(good, "attached"))
    console.print(table)
    return ok


def _mark(good: bool, what: str = "equal") -> str:
    if good:
        return f"[green]✓ {what}[/]"
    return "[red]✗ DIFFERENT[/]" if what == "equal" else f"[red]✗ NOT {what.upper()}[/]"


def audit(admin: AdminClient, job_id: str) -> bool:
    leftovers = admin.leftovers(job_id)
    grants = [i for i in admin.audit()["items"] if i["kind"] == "grant"]
    if not leftovers and not grants:
        console.print(f"[green]✓[/] audit: job {job_id} left nothing behind (no SAS grant, snapshot, staged VHD "
                      "or staging account)")
        return True
    console.print(f"[red]✗ audit: {len(leftovers)} leftovers, {len(grants)} open grants[/]")
    for item in leftovers + grants:
        console.print(f"  {item['kind']}: {item['id']}", markup=False)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis", default=os.environ.get("DISKFERRY_DEMO_REDIS", "redis://127.0.0.1:6379"),
                        help="Redis server (databases 4, 5, 6 are used)")
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".state" / "demo")
    parser.add_argument("--bandwidth-mib", type=float, default=2.0,
                        help="emulated copy bandwidth per copy, MiB/s (low, so that progress is visible)")
    parser.add_argument("--keep-running", action="store_true", help="keep the fleet and Flower up until Ctrl-C")
    args = parser.parse_args()
    unwind_on_sigterm()  # a SIGTERM stops what this run started, as Ctrl-C does

    shutil.rmtree(args.state_dir, ignore_errors=True)
    args.state_dir.mkdir(parents=True)
    console.rule("diskferry demo")
    with EmulatorProcess(args.state_dir / "local-azure") as emu:
        admin = emu.admin()
        admin.set(copy_bandwidth=args.bandwidth_mib * 1024 * 1024, lro_latency=0.5)
        console.print(f"local Azure: management {emu.env['DISKFERRY_ARM_ENDPOINT']}, "
                      f"blob {emu.env['DISKFERRY_BLOB_ENDPOINT']} (env: {emu.state_dir / 'azure.env'})")
        env = fleet_env(emu.env, args.redis.rstrip("/"))
        settings = Settings.from_env(env)
        # the demo's own databases: drop what an interrupted earlier run left queued
        for url in {settings.broker_url, settings.result_backend, settings.state_url}:
            redis.Redis.from_url(url).flushdb()
        app = make_app(settings)

        console.print("seeding francecentral: 3 VMs and 2 images (sparse disks, 32 GiB to 1 TiB nominal)")
        seeded = seed(emu.env, demo_spec())
        for item in seeded.items:
            sizes = ", ".join(f"{'os' if d.lun is None else f'lun{d.lun}'} {d.size_gb} GiB" for d in item.disks)
            console.print(f"  {item.kind} {item.name}: {sizes}")
        net = seed_networks(emu.env, ["brazilsouth"])["brazilsouth"]
        console.print(f"seeding brazilsouth's network: {net.resource_group}/{net.subnet_id.split('/', 8)[-1]}")

        fleet = LocalFleet(env, settings, args.state_dir / "logs", workers=2, flower=True, cwd=ROOT)
        with fleet.start(app):
            creds = args.state_dir / "flower-credentials"
            creds.write_text(f"{fleet.flower_auth}\n")
            creds.chmod(0o600)
            console.print(f"workers: 2 processes; Flower: {fleet.flower_url} (basic auth in {creds})")

            console.rule(f"diskferry plan {JOB_FILE.relative_to(ROOT)}")
            if cli(env, "plan", str(JOB_FILE)).returncode != 0:
                return 1
            console.rule(f"diskferry submit {JOB_FILE.relative_to(ROOT)}; diskferry watch JOB")
            submitted = cli(env, "submit", str(JOB_FILE), "--json", capture=True)
            if submitted.returncode != 0:
                console.print(submitted.stderr, markup=False)
                return 1
            import json

            job_id = json.loads(submitted.stdout)["job"]
            console.print(f"job {job_id}")
            watched = cli(env, "watch", job_id)

            # watch returns once every disk has an outcome and every cleanup has run
            job = JobStore.from_url(settings.state_url, settings.job_ttl_seconds).status(job_id)
            console.rule("results")
            good = watched.returncode == 0
            good &= verify(admin, seeded, job)
            good &= verify_vms(Cloud(settings.azure), job)
            good &= audit(admin, job_id)
            console.print(f"Flower: {fleet.flower_url} (basic auth in {creds})")
            if args.keep_running:
                console.print("fleet and Flower keep running; Ctrl-C to stop")
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    pass
        console.rule("[green]demo passed[/]" if good else "[red]demo FAILED[/]")
        return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
