"""What one task's read of the job record costs, at 20, 200 and 2,000 destination disks.

Writes a synthetic job (``tests/producer/synthetic.py``: N/2 one-disk VMs to two regions) into
a redis-server of its own, then times the read every task makes before it works — prepare,
each poll, finalize, cleanup: its pair (``store.pair``: the job's header and one source) —
against the read of the whole job (``store.job``, what every task made before per-pair state,
and what views still make). Prints one table (docs/benchmarks.md has it).

    .venv/bin/python scripts/bench_state.py --disks 20 200 2000

Run it on a checkout without ``store.pair`` and it times ``store.job`` as the task's read
(the figures "before").
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import redis

from diskferry.producer.localredis import RedisServer
from diskferry.state import JobStore

ROOT = Path(__file__).resolve().parents[1]


def _per_call_ms(call: Callable[[], object], rounds: int) -> float:
    """Median over 5 batches of the wall time of one call, in ms."""
    batches = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(rounds):
            call()
        batches.append((time.perf_counter() - t0) / rounds)
    return 1000 * statistics.median(batches)


def measure(store: JobStore, client: redis.Redis, disks: int) -> tuple[float, int, float, int]:
    """(task read ms, task read bytes, whole-job read ms, whole-job bytes) at ``disks``."""
    sys.path.insert(0, str(ROOT))
    from tests.producer.synthetic import many_disks  # the tests' synthetic record

    job = many_disks(store, disks // 2)
    source, target = job.sources[len(job.sources) // 2], job.targets[0]
    key = store.key(job.id)
    pair = getattr(store, "pair", None)
    if pair is not None:
        task: Callable[[], object] = lambda: pair(job.id, source.key, target.key)  # noqa: E731
        read = cast(list[bytes | None], client.hmget(key, ["header", f"spec|{source.key}"]))
        task_bytes = sum(len(v or b"") for v in read)
    else:  # before per-pair state: every task parsed the whole job
        task = lambda: store.job(job.id)  # noqa: E731
        task_bytes = len(cast(bytes | None, client.hget(key, "job")) or b"")
    whole_bytes = sum(len(v) for k, v in cast(dict[bytes, bytes], client.hgetall(key)).items()
                      if k in (b"job", b"header", b"sources") or k.startswith(b"spec|"))
    rounds = max(5, 20_000 // disks)
    result = (_per_call_ms(task, rounds), task_bytes, _per_call_ms(lambda: store.job(job.id), rounds), whole_bytes)
    store.delete(job.id)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--disks", type=int, nargs="+", default=[20, 200, 2000])
    args = parser.parse_args()
    rows = ["| destination disks | a task's read | its bytes | whole job read | its bytes |", "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="bench-state-") as tmp, RedisServer(Path(tmp)) as server:
        client = redis.Redis.from_url(server.url())
        store = JobStore(redis.Redis.from_url(server.url(), decode_responses=True), 3600)
        for n in args.disks:
            task_ms, task_b, whole_ms, whole_b = measure(store, client, n)
            rows.append(f"| {n} | {task_ms:.3f} ms | {task_b / 1024:.1f} KiB | {whole_ms:.2f} ms | "
                        f"{whole_b / 1024:.0f} KiB |")
    table = "\n".join(rows)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
