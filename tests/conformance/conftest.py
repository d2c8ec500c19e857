"""Fixtures of the conformance tests: Azurite and the emulator as two interchangeable backends.

Azurite is installed (npm, pinned) before the first test runs, outside any test's
timeout, and only when conformance tests are selected. Without Node.js/npm the tests are
skipped on a developer's machine and fail in CI (``CI=true``), where a skip would hide
that the oracle never ran.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from azure.mgmt.storage.models import Sku, StorageAccountCreateParameters

from diskferry.emulator.testing import EmulatorProcess
from tests.conformance import azurite
from tests.conformance.azurite import Account
from tests.conformance.backends import Backend
from tests.conformance.probe import Probe, Scenario, Step, compare
from tests.conftest import Clients

_INSTALL = pytest.StashKey[BaseException | None]()
BACKENDS = ("azurite", "emulator")
#: regions of the emulator's two accounts: copies between them cross regions
EMULATOR_REGIONS = ("francecentral", "westeurope")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _install_outcome() -> BaseException | None:
    try:
        azurite.install()
    except (azurite.AzuriteUnavailable, azurite.AzuriteInstallError) as exc:
        return exc
    return None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Install Azurite once, before any test's timeout starts, when conformance tests will run."""
    if session.config.option.collectonly or not any(i.get_closest_marker("azurite") for i in session.items):
        return
    if not azurite.is_installed():
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"installing azurite@{azurite.AZURITE_VERSION} into {azurite.DEFAULT_CACHE} "
                "(first run only: about a minute, ~365 MB)"
            )
    session.config.stash[_INSTALL] = _install_outcome()


def verdict(problem: BaseException | None, ci: bool) -> tuple[str, str] | None:
    """What the tests do about an install problem: ``("skip"|"fail", reason)``, or None to run.

    Only a machine without Node.js/npm skips, and only outside CI.
    """
    if problem is None:
        return None
    if isinstance(problem, azurite.AzuriteUnavailable):
        if not ci:
            return "skip", f"conformance tests need Azurite: {problem}"
        return "fail", f"Azurite cannot run and CI=true (not skipped in CI): {problem}"
    return "fail", f"Azurite could not be installed or started: {problem}"


@pytest.fixture(scope="session")
def azurite_installed(pytestconfig: pytest.Config) -> None:
    problem = pytestconfig.stash[_INSTALL] if _INSTALL in pytestconfig.stash else _install_outcome()
    decided = verdict(problem, in_ci())
    if decided is not None:
        action, reason = decided
        (pytest.skip if action == "skip" else pytest.fail)(reason)


@pytest.fixture(scope="session")
def azurite_backend(azurite_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    accounts = azurite.random_accounts()
    with azurite.AzuriteProcess(tmp_path_factory.mktemp("azurite") / "data", accounts) as proc:
        yield Backend(
            "azurite", (proc.account_url(accounts[0]), proc.account_url(accounts[1])), (accounts[0], accounts[1])
        )


@pytest.fixture(scope="session")
def emulator_backend(emulator: EmulatorProcess, clients: Clients) -> Backend:
    """Two storage accounts created through ARM, in two regions, reached by their endpoints and keys."""
    rg = f"rg-conformance-{uuid.uuid4().hex[:6]}"
    clients.resource.resource_groups.create_or_update(rg, {"location": EMULATOR_REGIONS[0]})
    accounts, urls = [], []
    for region in EMULATOR_REGIONS:
        name = f"conf{uuid.uuid4().hex[:12]}"
        params = StorageAccountCreateParameters(sku=Sku(name="Standard_LRS"), kind="StorageV2", location=region)
        clients.storage.storage_accounts.begin_create(rg, name, params).result()
        keys = clients.storage.storage_accounts.list_keys(rg, name).keys_property or []
        endpoint = clients.storage.storage_accounts.get_properties(rg, name).primary_endpoints
        assert endpoint is not None and endpoint.blob is not None
        accounts.append(Account(name, str(keys[0].value)))
        urls.append(endpoint.blob.rstrip("/"))
    return Backend(
        "emulator", (urls[0], urls[1]), (accounts[0], accounts[1]), verify=emulator.env["REQUESTS_CA_BUNDLE"]
    )


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    b: Backend = request.getfixturevalue(f"{request.param}_backend")
    return b


class Oracle:
    """Azurite's recording of each scenario, made once per session."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._steps: dict[str, list[Step]] = {}

    def keep(self, scenario: Scenario, steps: list[Step]) -> None:
        self._steps[scenario.__name__] = steps

    def steps(self, scenario: Scenario) -> list[Step]:
        if scenario.__name__ not in self._steps:
            probe = Probe(self.backend)
            scenario(probe)
            self.keep(scenario, probe.steps)
        return self._steps[scenario.__name__]


@pytest.fixture(scope="session")
def oracle(azurite_backend: Backend) -> Oracle:
    return Oracle(azurite_backend)


@pytest.fixture
def conform(backend: Backend, oracle: Oracle) -> Callable[[Scenario], Probe]:
    """``conform(scenario)``: run it on this test's backend; Azure's documented answers must
    hold, and on the emulator every step must answer as Azurite did."""

    def run(scenario: Scenario) -> Probe:
        probe = Probe(backend)
        scenario(probe)
        problems = [f"  {v}" for v in probe.violations]
        if backend.name == "azurite":
            oracle.keep(scenario, probe.steps)
        else:
            problems += ["  " + d for d in compare(oracle.steps(scenario), probe.steps, "azurite", backend.name)]
        assert not problems, f"{scenario.__name__} on {backend.name}:\n" + "\n".join(problems)
        return probe

    return run
