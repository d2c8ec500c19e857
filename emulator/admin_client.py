"""A small client of the admin API, for tests, benchmarks, the demo and the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests


def read_env(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of an ``azure.env`` file."""
    env = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, _, v = line.partition("=")
            env[k.strip()] = v.strip()
    return env


class AdminClient:
    def __init__(self, url: str, token: str, ca_bundle: str | None = None, timeout: float = 60) -> None:
        self.url = url.rstrip("/")
        self._session = requests.Session()
        self._session.headers["x-emulator-admin-token"] = token
        self._session.verify = ca_bundle if ca_bundle else True
        self._timeout = timeout

    @classmethod
    def from_env(cls, env: dict[str, str]) -> AdminClient:
        return cls(
            env["DISKFERRY_EMULATOR_ADMIN_URL"],
            env["DISKFERRY_EMULATOR_ADMIN_TOKEN"],
            env.get("REQUESTS_CA_BUNDLE"),
        )

    def call(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        r = self._session.request(method, self.url + path, json=json, params=params, timeout=self._timeout)
        if r.status_code >= 400:
            raise RuntimeError(f"admin {method} {path}: {r.status_code} {r.text}")
        return r.json() if r.content else None

    # -- knobs ------------------------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        return dict(self.call("GET", "/counters"))

    def reset_counters(self) -> None:
        self.call("POST", "/counters/reset")

    def add_fault(self, op: str, **rule: Any) -> dict[str, Any]:
        return dict(self.call("POST", "/faults", json={"op": op, **rule}))

    def clear_faults(self) -> None:
        self.call("DELETE", "/faults")

    def settings(self) -> dict[str, Any]:
        return dict(self.call("GET", "/settings"))

    def set(self, **changes: Any) -> dict[str, Any]:
        return dict(self.call("PATCH", "/settings", json=changes))

    def close(self) -> None:
        self._session.close()
