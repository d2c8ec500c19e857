"""The harness itself: install decisions, Node.js detection, step comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance import azurite
from tests.conformance.azurite import Account
from tests.conformance.backends import Backend
from tests.conformance.conftest import verdict
from tests.conformance.probe import Err, Probe, Step, compare


def test_missing_node_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no node, no npm
    with pytest.raises(azurite.AzuriteUnavailable) as info:
        azurite.find_node()
    assert verdict(info.value, ci=False) == ("skip", f"conformance tests need Azurite: {info.value}")
    decided = verdict(info.value, ci=True)
    assert decided is not None and decided[0] == "fail"
    failed_install = verdict(azurite.AzuriteInstallError("npm failed"), ci=False)
    assert failed_install is not None and failed_install[0] == "fail"
    assert verdict(None, ci=True) is None


def test_old_node_is_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for tool, script in (("node", "echo v16.20.0"), ("npm", "echo 8.0.0")):
        path = tmp_path / tool
        path.write_text(f"#!/bin/sh\n{script}\n")
        path.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(azurite.AzuriteUnavailable, match=r"Node\.js 18"):
        azurite.find_node()


def test_compare_names_each_differing_step() -> None:
    ref = [
        Step("create", "ok", False),
        Step("again", Err(409, "ContainerAlreadyExists"), False),
        Step("quirk", Err(416, "x"), True),
        Step("only here", "ok", False),
    ]
    obs = [
        Step("create", "ok", False),
        Step("again", Err(409, "ResourceExists"), False),
        Step("quirk", Err(400, "InvalidHeaderValue"), True),
    ]
    lines = compare(ref, obs, "azurite", "emulator")
    assert lines == [
        "again:\n     azurite: Err(status=409, code='ContainerAlreadyExists')\n"
        "    emulator: Err(status=409, code='ResourceExists')",
        "only here: only on azurite",
    ]


def test_probe_replaces_names_by_roles_and_hides_sas_values() -> None:
    backend = Backend(
        "azurite",
        ("http://127.0.0.1:1/acct1", "http://127.0.0.1:1/acct2"),
        (Account("acct1", "k1"), Account("acct2", "k2")),
    )
    p = Probe(backend)
    container = p.name("src")
    url = f"http://127.0.0.1:1/acct1/{container}/disk.vhd?sv=2025&sig=secret"
    assert p.url_view(url) == ("/<account0>/<src>/disk.vhd", ("sig", "sv"))
    p.call("fails", lambda: (_ for _ in ()).throw(ValueError("unaligned")), expect="ok")
    assert p.violations == ["fails: expected 'ok', got ClientError(kind='ValueError')"]
