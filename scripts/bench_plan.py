"""What planning a bulk job costs (issue 8): N VMs of one resource group, each with one OS disk,
to two regions, planned against the local Azure with ARM throttling on (Azure's default
buckets: reads 250, refilled 25/s); time and ARM calls counted by the local Azure.

Seeding runs unthrottled. Each ``--python`` (a checkout's ``.venv/bin/python``) plans in its own
process in that checkout, so that two checkouts, e.g. main and a branch, are measured against
the same seeded VMs, one after the other with the read bucket refilled in between:

    .venv/bin/python scripts/bench_plan.py --vms 100 1000 --python /work/main/.venv/bin/python .venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.seed import SeedSpec, seed
from diskferry.emulator.testing import EmulatorProcess

#: Azure's read bucket refills in 250 / 25 = 10 s: each planner starts with a full one
REFILL_SECONDS = 11

PLAN = """
import json, sys, time
from diskferry.cloud import Cloud
from diskferry.config.settings import Settings
from diskferry.producer.jobfile import parse
from diskferry.producer.planner import make_plan
env, rg, n = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
settings = Settings.from_env(env)
spec = parse({"source": {"resource_group": rg, "vms": [f"vm{i:04}" for i in range(n)]},
              "targets": [{"region": "westeurope", "resource_group": "bench-we"},
                          {"region": "northeurope", "resource_group": "bench-ne"}]})
started = time.monotonic()
plan = make_plan(spec, Cloud(settings.azure), settings)
print(json.dumps({"seconds": time.monotonic() - started, "steps": len(plan.steps)}))
"""


def measure(python: str, env: dict[str, str], admin: AdminClient, rg: str, n: int) -> str:
    time.sleep(REFILL_SECONDS)
    admin.reset_counters()
    # run in the checkout the venv belongs to: ``-c`` puts the working directory first on sys.path
    checkout = Path(python).absolute().parents[2]
    out = subprocess.run([python, "-c", PLAN, json.dumps(env), rg, str(n)], check=True, capture_output=True,
                         text=True, cwd=checkout).stdout
    result = json.loads(out.strip().splitlines()[-1])
    counters = admin.counters()
    arm = {k: v for k, v in counters.items() if k.startswith("Microsoft.")}
    reads = sum(v for k, v in arm.items() if k.endswith("/read"))
    throttled = sum(v for k, v in counters.items() if k.startswith("arm.throttled."))
    return (f"{n} VMs, {python}: plan {result['seconds']:.1f} s, {result['steps']} steps, {sum(arm.values())} ARM "
            f"calls ({reads} reads), {throttled} answered 429")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, nargs="+", default=[100])
    parser.add_argument("--python", nargs="+", default=[sys.executable])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as tmp, EmulatorProcess(Path(tmp) / "azure") as emu:
        admin = AdminClient.from_env(emu.env)
        for n in args.vms:
            rg = f"bench{n}"
            admin.set(arm_throttling=False)
            started = time.monotonic()
            seed(emu.env, SeedSpec.model_validate({"resource_group": rg, "location": "francecentral", "data_mib": 0.1,
                                                   "vms": [{"name": f"vm{i:04}", "os_disk": 1} for i in range(n)]}))
            print(f"seeded {n} VMs in {time.monotonic() - started:.0f} s", flush=True)
            admin.set(arm_throttling=True)
            for python in args.python:
                print(measure(python, emu.env, admin, rg, n), flush=True)


if __name__ == "__main__":
    main()
