"""scripts/bench_fleet.py at a tiny size (2 disks, 3 s copies), so that the benchmark keeps
working; its figures are printed, not asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_fleet_tiny(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_fleet.py"), "--disks", "2", "--copy-seconds", "3",
         "--manual-disks", "0", "--views-disks", "20", "--views-seconds", "3", "--warm-vms", "1",
         "--doc", str(doc)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "destination disks: 2 (2 succeeded)" in done.stdout
    assert "warmed the fleet up with 2 disks" in done.stdout
    text = doc.read_text()
    assert "## 2 destination disks, T = 3 s" in text and "scripts/bench_fleet.py --disks 2" in text
    for figure in ("makespan", "ratio", "detection lag", "status calls per copy", "Redis per disk",
                   "status at 20 disks", "live view at 20 disks"):
        assert f"| {figure}" in text


def test_bench_fleet_refuses_bad_input() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_fleet.py"), "--disks", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "--disks >= 2" in done.stderr


def test_bench_task_tiny() -> None:
    """scripts/bench_task.py with a few runs of each kind: it starts its workers, counts their
    CPU and ends them (its figures are printed, not asserted)."""
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_task.py"), "--tasks", "20"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "returned: workers ms" in done.stdout and "ignored: workers ms" in done.stdout
