"""scripts/bench_emulator.py in its quick mode, so that the benchmark keeps working."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_emulator_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_emulator.py"), "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(out.read_text())
    copies = results["plan"]["copies"]
    # the copies were really in flight while the emulator was measured
    assert results["pending_before"] == copies and results["pending_after"] == copies
    for kind in ("blob", "arm"):
        r = results[kind]
        assert r["requests"] > 0 and r["errors"] == 0, r
        assert 0 < r["p50_ms"] <= r["p99_ms"]
    assert "Get Blob Properties" in done.stdout and "ARM GET" in done.stdout
