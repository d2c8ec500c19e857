"""What the demo and the benchmark start is stopped when they are: SIGTERM unwinds them like
Ctrl-C (``timeout`` and CI runners send SIGTERM; Python's default died, leaving the children)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from diskferry.producer.localfleet import unwind_on_sigterm
    from diskferry.producer.localredis import RedisServer

    if sys.argv[2] == "unwind":
        unwind_on_sigterm()
    with RedisServer(Path(sys.argv[1])) as server:
        print(server.proc.pid, flush=True)
        time.sleep(60)
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a child that exited but was not reaped yet is a zombie: gone for this test's purpose
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _run_and_term(tmp_path: Path, mode: str) -> tuple[int, int]:
    """Start a process that starts a Redis server in a ``with``; SIGTERM it once the server is
    up. Its exit code, and the server's pid."""
    with subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / mode), mode], cwd=ROOT,
                          stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        server = int(proc.stdout.readline())
        proc.send_signal(signal.SIGTERM)
        return proc.wait(30), server


def test_sigterm_stops_what_the_process_started(tmp_path: Path) -> None:
    code, server = _run_and_term(tmp_path, "unwind")
    assert code == 128 + signal.SIGTERM
    wait_until(lambda: not _alive(server), 10, "the Redis server outlived the process that started it")


def test_without_it_the_children_were_left_running(tmp_path: Path) -> None:
    """The case the handler exists for: Python's default SIGTERM leaves the server behind (this
    test stops it itself, by its pid)."""
    code, server = _run_and_term(tmp_path, "default")
    try:
        assert code == -signal.SIGTERM
        assert _alive(server)
    finally:
        os.kill(server, signal.SIGTERM)
