"""Start and stop an emulator subprocess: for tests, benchmarks and the demo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from diskferry.emulator.admin_client import AdminClient, read_env


def stop_process(proc: subprocess.Popen[bytes], grace: float = 10) -> None:
    """End a child we started: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class EmulatorProcess:
    """``diskferry-emulator serve`` in a subprocess on free loopback ports.

    Use as a context manager; ``env`` holds the ``azure.env`` values once started.
    """

    #: what ``tls_from`` copies: the CA and the server's key and certificate
    TLS_FILES = ("ca.pem", "server.pem", "server.names")

    def __init__(self, state_dir: Path, *, log_path: Path | None = None, tls_from: Path | None = None,
                 ports: tuple[int, int] | None = None) -> None:
        """``tls_from``: the state dir of another emulator whose certificate this one serves
        too, so that one CA bundle trusts both (a test's extra emulators, say). ``ports``: the
        management and blob ports to bind (default: free ones), e.g. to restart an emulator
        where its clients (a running fleet) expect it."""
        self.state_dir = state_dir
        self.tls_from = tls_from
        self.ports = ports
        self.log_path = log_path or state_dir.parent / f"{state_dir.name}-emulator.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] = {}

    def start(self, timeout: float = 30) -> EmulatorProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.tls_from is not None:
            for name in self.TLS_FILES:
                if not (self.state_dir / name).exists():
                    shutil.copy2(self.tls_from / name, self.state_dir / name)
        env_file = self.state_dir / "azure.env"
        env_file.unlink(missing_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed in stop()
        self._log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "diskferry.emulator.cli", "serve", "--state-dir", str(self.state_dir),
             *([f"--port={self.ports[0]}", f"--blob-port={self.ports[1]}"] if self.ports else [])],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + timeout
        while not env_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited with {self.proc.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"emulator not ready after {timeout}s; see {self.log_path}")
            time.sleep(0.05)
        self.env = read_env(env_file)
        return self

    def bound_ports(self) -> tuple[int, int]:
        """The management and blob ports it serves on (once started)."""
        return (urlsplit(self.env["DISKFERRY_ARM_ENDPOINT"]).port or 443,
                urlsplit(self.env["DISKFERRY_BLOB_ENDPOINT"]).port or 443)

    def admin(self) -> AdminClient:
        return AdminClient.from_env(self.env)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        self.proc = None
        if getattr(self, "_log", None) is not None:
            self._log.close()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
