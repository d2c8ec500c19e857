"""A small client of the admin API, for tests, benchmarks, the demo and the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

#: audit entry kinds that a finished job must not leave behind
LEFTOVER_KINDS = frozenset({"grant", "snapshot", "blob", "storageaccount"})


def strip_query(target: str) -> str:
    """A URL without its query (where a SAS lives); ids pass unchanged."""
    return target.split("?", 1)[0] if "://" in target else target


def read_env(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of an ``azure.env`` file."""
    env = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, _, v = line.partition("=")
            env[k.strip()] = v.strip()
    return env


class AdminError(RuntimeError):
    """The admin API refused a call (``status``) or could not be reached (status 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class AdminClient:
    def __init__(self, url: str, token: str, ca_bundle: str | None = None, timeout: float = 60) -> None:
        self.url = url.rstrip("/")
        self._session = requests.Session()
        self._session.headers["x-emulator-admin-token"] = token
        # passed per request: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE from the
        # environment override Session.verify, but not a request's own verify=
        self._verify: str | bool = ca_bundle if ca_bundle else True
        self._timeout = timeout

    @classmethod
    def from_env(cls, env: dict[str, str]) -> AdminClient:
        return cls(
            env["DISKFERRY_EMULATOR_ADMIN_URL"],
            env["DISKFERRY_EMULATOR_ADMIN_TOKEN"],
            env.get("REQUESTS_CA_BUNDLE"),
        )

    def call(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        try:
            r = self._session.request(
                method, self.url + path, json=json, params=params, timeout=self._timeout, verify=self._verify
            )
        except requests.RequestException as exc:
            raise AdminError(0, f"the emulator's admin API at {self.url} does not answer: {exc}") from exc
        if r.status_code >= 400:
            try:
                message = str(r.json()["error"])
            except (ValueError, KeyError, TypeError):
                message = r.text
            raise AdminError(r.status_code, f"admin {method} {path}: {r.status_code} {message}")
        return r.json() if r.content else None

    # -- knobs ------------------------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        return dict(self.call("GET", "/counters"))

    def reset_counters(self) -> None:
        self.call("POST", "/counters/reset")

    def add_fault(self, op: str, **rule: Any) -> dict[str, Any]:
        return dict(self.call("POST", "/faults", json={"op": op, **rule}))

    def faults(self) -> list[dict[str, Any]]:
        """The live rules, each with the uses it has left (``count``)."""
        return list(self.call("GET", "/faults"))

    def remove_fault(self, rule_id: str) -> bool:
        return bool(self.call("DELETE", f"/faults/{rule_id}")["removed"])

    def clear_faults(self) -> None:
        self.call("DELETE", "/faults")

    def settings(self) -> dict[str, Any]:
        return dict(self.call("GET", "/settings"))

    def set(self, **changes: Any) -> dict[str, Any]:
        return dict(self.call("PATCH", "/settings", json=changes))

    # -- inspection -------------------------------------------------------------------------
    def hash(self, target: str) -> dict[str, Any]:
        """Content hash of a disk, snapshot or image (ARM id) or of a blob (URL).

        A SAS in a URL is dropped before the call: the admin API never needs it.
        """
        return dict(self.call("GET", "/hash", params={"id": strip_query(target)}))

    def audit(self, tag: str | None = None, scope: str | None = None) -> dict[str, Any]:
        """What a job may leave behind (see ``diskferry.emulator.audit``), optionally by tag ``k=v``."""
        params = {k: v for k, v in (("tag", tag), ("scope", scope)) if v}
        return dict(self.call("GET", "/audit", params=params))

    def leftovers(self, job_id: str) -> list[dict[str, Any]]:
        """A job's temporary leftovers: grants, snapshots, blobs, accounts tagged with it.

        Empty is what a finished job must leave. Grants on untagged sources (a VM's own
        disks) are not tagged with the job; check ``audit()["counts"]`` for those.
        """
        items = self.audit(tag=f"diskferry-job={job_id}")["items"]
        return [i for i in items if i["kind"] in LEFTOVER_KINDS]

    def close(self) -> None:
        self._session.close()
