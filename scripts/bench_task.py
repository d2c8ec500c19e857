"""What one Celery task run costs on diskferry's configuration, with nothing to do (issue 8).

A disk makes about four task runs (prepare, the copy's two runs, finalize), and at 2,000
disks on two cores the machine's CPU per disk is what sets the ramp and the wind-down
(docs/benchmarks.md). This measures the floor under each of those runs: it starts its own
redis-server and ``--workers`` celery workers (``--concurrency`` each) with the fleet's own
Celery settings (``diskferry.config.celeryconfig``: late acks, task and sent events, zlib
bodies, the result backend, diskferry's broker transport and its rescue records), sends
``--tasks`` tasks that do nothing, and prints the CPU that the workers (pool and main
processes), Redis and this sender spent per run. Two kinds of run: one that returns a small
result (as prepare and finalize do), and one that ends in ``Ignore`` without a result (as a
copy's run that parks it does).

    .venv/bin/python scripts/bench_task.py --tasks 2000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import redis
from celery import Celery, Task
from celery.exceptions import Ignore

from diskferry.config.celeryconfig import celery_config
from diskferry.config.settings import Settings
from diskferry.producer.localfleet import unwind_on_sigterm
from diskferry.producer.localredis import RedisServer

ROOT = Path(__file__).resolve().parents[1]
RETURNED = "bench.returned"
IGNORED = "bench.ignored"


def make_app(settings: Settings) -> Celery:
    app = Celery("bench", set_as_current=False, task_cls="diskferry.tasks.outage:OutageTolerantTask",
                 include=["diskferry.tasks.rescue"])
    app.conf.update(celery_config(settings))

    @app.task(bind=True, name=RETURNED)  # type: ignore[untyped-decorator]
    def returned(self: Task, n: int) -> dict[str, Any]:
        return {"n": n}

    @app.task(bind=True, name=IGNORED, ignore_result=True)  # type: ignore[untyped-decorator]
    def ignored(self: Task, n: int) -> None:
        raise Ignore()

    return app


#: the worker's app: made from the environment the benchmark gives the worker processes
app = make_app(Settings.from_env(os.environ)) if os.environ.get("DISKFERRY_BROKER_URL") else None


def run(kind: str, count: int, base: str, workers: int, concurrency: int, workdir: Path,
        pool: str = "prefork") -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISKFERRY_")}
    env.update({"DISKFERRY_BROKER_URL": f"{base}/1", "DISKFERRY_RESULT_BACKEND": f"{base}/2",
                "DISKFERRY_STATE_URL": f"{base}/3", "DISKFERRY_CONCURRENCY": str(concurrency),
                "PYTHONPATH": os.pathsep.join([str(ROOT / "scripts"), str(ROOT), env.get("PYTHONPATH", "")])})
    from bench_fleet import _cpu_seconds, tree_cpu  # scripts/, beside this one: not in the workers

    settings = Settings.from_env(env)
    sender = make_app(settings)
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[IO[bytes]] = []
    try:
        for i in range(workers):
            log = (workdir / f"{kind}-worker{i}.log").open("wb")
            logs.append(log)
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "--app=bench_task:app", "worker",
                 f"--queues={settings.queue},{settings.poll_queue}", f"--concurrency={concurrency}",
                 f"--hostname=bench{i}@%h", "--loglevel=WARNING", "--events", "--without-gossip",
                 "--without-mingle", f"--pool={pool}"],
                cwd=ROOT / "scripts", env=env, stdout=log, stderr=subprocess.STDOUT))
        client = redis.Redis.from_url(f"{base}/1")
        results = redis.Redis.from_url(f"{base}/2")
        redis_pid = int(client.info("server")["process_id"])  # type: ignore[index]
        # every pool process has run a task (opened its connections) before the baselines
        warm = [sender.send_task(RETURNED, args=[-i]) for i in range(workers * concurrency * 4)]
        for result in warm:
            result.get(timeout=120)
        time.sleep(2)
        pids = [p.pid for p in procs]
        name = RETURNED if kind == "returned" else IGNORED
        cpu0, redis0, me0, t0 = tree_cpu(pids), _cpu_seconds(redis_pid), time.process_time(), time.monotonic()
        for n in range(count):
            sender.send_task(name, args=[n])
        sent = time.process_time() - me0
        # done once the queues are empty and nothing is held unacked (every run acked)
        while client.llen(settings.queue) or client.hlen("unacked"):
            time.sleep(0.2)
        time.sleep(0.5)  # the last message may be between the queue and the unacked hash
        while client.llen(settings.queue) or client.hlen("unacked"):
            time.sleep(0.2)
        elapsed = time.monotonic() - t0
        cpu, redis_cpu = tree_cpu(pids) - cpu0, _cpu_seconds(redis_pid) - redis0
        if kind == "returned":
            stored = sum(1 for key in results.scan_iter(match="celery-task-meta-*", count=1000))
            assert stored >= count, f"{stored} results stored for {count} runs"
        return {"workers ms": cpu / count * 1000, "redis ms": redis_cpu / count * 1000,
                "sender ms": sent / count * 1000, "runs/s": count / elapsed}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for handle in logs:
            handle.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=2000, help="task runs of each kind")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--pool", default="prefork", choices=("prefork", "threads", "solo"),
                        help="the workers' execution pool")
    args = parser.parse_args()
    unwind_on_sigterm()
    if args.tasks < 1 or args.workers < 1 or args.concurrency < 1:
        parser.error("need --tasks, --workers and --concurrency >= 1")
    with tempfile.TemporaryDirectory(prefix="bench-task-") as tmp, RedisServer(Path(tmp)) as server:
        base = server.url().rsplit("/", 1)[0]
        print(f"{args.tasks} runs of each kind, {args.workers} workers x concurrency {args.concurrency}, "
              f"{args.pool} pool")
        for kind in ("returned", "ignored"):
            figures = run(kind, args.tasks, base, args.workers, args.concurrency, Path(tmp), args.pool)
            print(f"  {kind}: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
