"""Azurite, Microsoft's storage emulator, as the oracle of the conformance tests.

It is installed from the npm registry into ``<repo>/.cache/azurite`` on first use (about a
minute and ~365 MB; later runs find it there) and its blob service runs alone on loopback,
path-style, with two accounts of random keys. Only the version pinned here is used:
``azurite@3`` resolves to 3.35, which fails cross-account copies above ~512 MiB.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from diskferry.emulator.testing import stop_process
from tests.waiting import wait_until

AZURITE_VERSION = "3.37.0"
MIN_NODE_MAJOR = 18
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = REPO_ROOT / ".cache" / "azurite"
_LISTENING = re.compile(r"successfully listens on (http://\S+?):(\d+)")


class AzuriteUnavailable(RuntimeError):
    """Node.js or npm is missing (or too old): Azurite cannot run on this machine."""


class AzuriteInstallError(RuntimeError):
    """npm is present but installing or starting Azurite failed."""


@dataclass(frozen=True)
class Account:
    name: str
    key: str


def _node_major(node: str) -> int:
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    match = re.match(r"v(\d+)\.", out.strip())
    if not match:
        raise AzuriteUnavailable(f"cannot read the Node.js version from {out!r}")
    return int(match.group(1))


def find_node() -> str:
    """The ``node`` executable, checked to be recent enough; else :class:`AzuriteUnavailable`."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise AzuriteUnavailable("Azurite needs Node.js and npm on PATH (node and npm not both found)")
    major = _node_major(node)
    if major < MIN_NODE_MAJOR:
        raise AzuriteUnavailable(f"Azurite needs Node.js {MIN_NODE_MAJOR}+, found v{major}")
    return node


def main_js(cache_dir: Path = DEFAULT_CACHE) -> Path:
    return cache_dir / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"


def _stamp(cache_dir: Path) -> Path:
    return cache_dir / f".installed-{AZURITE_VERSION}"


def is_installed(cache_dir: Path = DEFAULT_CACHE) -> bool:
    return _stamp(cache_dir).exists() and main_js(cache_dir).exists()


def install(cache_dir: Path = DEFAULT_CACHE, *, timeout: float = 900) -> Path:
    """Install Azurite unless the pinned version is already there; returns its blob ``main.js``.

    A lock file serialises concurrent test sessions; the stamp is written only after npm
    succeeded, so an interrupted install is redone rather than trusted.
    """
    find_node()
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir.parent / "azurite.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_installed(cache_dir):
            return main_js(cache_dir)
        npm = shutil.which("npm")
        assert npm is not None  # find_node checked it
        cmd = [
            npm,
            "install",
            "--prefix",
            str(cache_dir),
            "--save-exact",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            f"azurite@{AZURITE_VERSION}",
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise AzuriteInstallError(f"npm install azurite@{AZURITE_VERSION} took over {timeout:.0f}s") from exc
        if done.returncode != 0:
            raise AzuriteInstallError(
                f"npm install azurite@{AZURITE_VERSION} failed ({done.returncode}):\n{done.stderr[-4000:]}"
            )
        installed = json.loads((cache_dir / "node_modules" / "azurite" / "package.json").read_text())["version"]
        if installed != AZURITE_VERSION or not main_js(cache_dir).exists():
            raise AzuriteInstallError(f"npm installed azurite {installed}, expected {AZURITE_VERSION}")
        _stamp(cache_dir).write_text(AZURITE_VERSION + "\n")
        return main_js(cache_dir)


def random_accounts(prefix: str = "azconf", count: int = 2) -> list[Account]:
    return [Account(f"{prefix}{i + 1}", base64.b64encode(secrets.token_bytes(64)).decode()) for i in range(count)]


class AzuriteProcess:
    """Azurite's blob service in a subprocess on a free loopback port (use as a context manager).

    Port 0 is passed to Azurite and the bound port read from its log line, so there is no
    window in which another process could take the port.
    """

    def __init__(self, location: Path, accounts: list[Account], *, cache_dir: Path = DEFAULT_CACHE) -> None:
        self.location = location
        self.accounts = accounts
        self.cache_dir = cache_dir
        self.log_path = location.parent / f"{location.name}-azurite.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def account_url(self, account: Account) -> str:
        return f"{self.url}/{account.name}"

    def start(self, timeout: float = 60) -> AzuriteProcess:
        node = find_node()
        script = main_js(self.cache_dir)
        if not script.exists():
            raise AzuriteInstallError(f"Azurite is not installed at {script}; call install() first")
        self.location.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "AZURITE_ACCOUNTS": ";".join(f"{a.name}:{a.key}" for a in self.accounts)}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    node,
                    str(script),
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                    "0",
                    "--location",
                    str(self.location),
                    "--loose",
                    "--skipApiVersionCheck",
                    "--disableTelemetry",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        proc = self.proc

        def listening() -> re.Match[str] | None:
            if proc.poll() is not None:
                raise AzuriteInstallError(f"Azurite exited with {proc.returncode}; see {self.log_path}")
            return _LISTENING.search(self.log_path.read_text(errors="replace"))

        try:
            match = wait_until(listening, timeout, f"Azurite not listening after {timeout}s; see {self.log_path}")
        except AssertionError as exc:
            self.stop()
            raise AzuriteInstallError(str(exc)) from None
        self.url = f"{match.group(1)}:{match.group(2)}"
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        self.proc = None

    def __enter__(self) -> AzuriteProcess:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


@contextlib.contextmanager
def running(location: Path, accounts: list[Account]) -> Iterator[AzuriteProcess]:
    """Install when needed, then run Azurite for the block's duration."""
    install()
    with AzuriteProcess(location, accounts) as proc:
        yield proc
