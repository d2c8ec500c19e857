"""The bad-input matrix (``bad_inputs.yaml``): every case through the real CLI — ``plan``,
``submit`` and both in ``--json`` mode — against the local Azure and a real Redis.

Each run must exit 2, name what is wrong, show no traceback, write nothing to Azure (the
emulator's counters of writes, deletes and actions do not move) and enqueue or record
nothing (the Redis database of the broker, results and job records keeps its size).
Most cases run in this process through ``main()``, as the ``diskferry`` script does; the
cases marked ``process: true`` run as a real ``diskferry`` process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from diskferry.config.settings import get_settings
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.seed import SeedSpec, seed
from diskferry.emulator.testing import EmulatorProcess
from diskferry.producer.cli import main
from diskferry.producer.jobfile import MAX_BYTES
from tests.fleet.checks import delta
from tests.fleet.conftest import ROOT
from tests.reliability import LOG_ENV, CaseRecord, record_case

CASES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).with_name("bad_inputs.yaml")).read_text())["cases"]
#: a well-formed subscription id the local Azure does not know
OTHER_SUB = "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"


@dataclass
class Bench:
    env: dict[str, str]
    values: dict[str, str]
    redis: redis.Redis
    admin: AdminClient
    tmp: Path
    #: folders made outside ``tmp``, removed at the end
    outside: list[Path] = field(default_factory=list)

    def fill(self, value: Any) -> Any:
        """``value`` with $RG, $SUB, ... replaced, through lists and mappings."""
        if isinstance(value, str):
            for key in sorted(self.values, key=len, reverse=True):
                value = value.replace(f"${key}", self.values[key])
            return value
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        if isinstance(value, dict):
            return {self.fill(k): self.fill(v) for k, v in value.items()}
        return value


@pytest.fixture(scope="module")
def bench(emulator: EmulatorProcess, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    """The CLI's environment (a Redis DB of its own for broker, results and records) and a VM
    to replicate: ``app`` with an OS disk and one data disk, ``fast`` with an Ultra data disk,
    ``locked`` under a customer-managed key, ``sealed`` with Azure Disk Encryption on its disk and
    ``sealed-vm`` with its first version's settings on the VM, in francecentral."""
    rg = f"bad-{uuid.uuid4().hex[:6]}"
    seed(emulator.env, SeedSpec.model_validate(
        {"resource_group": rg, "location": "francecentral", "data_mib": 1,
         "vms": [{"name": "app", "os_disk": 1, "data_disks": [1]},
                 {"name": "fast", "os_disk": 1, "data_disks": [{"size_gb": 1, "sku": "UltraSSD_LRS"}]},
                 {"name": "locked", "os_disk": {"size_gb": 1, "encryption_set": "keys"}},
                 {"name": "sealed", "os_disk": {"size_gb": 1, "guest_encrypted": True}},
                 {"name": "sealed-vm", "os_disk": 1, "ade_on_vm": True},
                 {"name": "trusted", "os_disk": 1, "security_type": "TrustedLaunch"}]}))
    db = redis_url.rsplit("/", 1)[0] + "/14"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("DISKFERRY_", "AZURE_"))}, **emulator.env,
           "DISKFERRY_BROKER_URL": db, "DISKFERRY_RESULT_BACKEND": db, "DISKFERRY_STATE_URL": db,
           "DISKFERRY_VAULT_KEY": "not-used-nothing-is-enqueued"}
    tmp = tmp_path_factory.mktemp("bad-inputs")
    good = tmp / "good.yaml"
    good.write_text(yaml.safe_dump({"source": {"resource_group": rg, "vms": ["app"]},
                                    "targets": [{"region": "westeurope", "resource_group": f"we-{rg}"}]}))
    values = {"RG": rg, "RGUPPER": rg.upper(), "SUB": emulator.env["AZURE_SUBSCRIPTION_ID"], "OTHERSUB": OTHER_SUB,
              "FILE": str(good)}
    client = redis.Redis.from_url(db)
    admin = emulator.admin()
    with pytest.MonkeyPatch.context() as mp:
        # the reliability log is the test's own setting, not diskferry's: it stays
        for key in [k for k in os.environ if k.startswith(("DISKFERRY_", "AZURE_")) and k != LOG_ENV]:
            mp.delenv(key)
        for key, value in env.items():
            mp.setenv(key, value)
        get_settings.cache_clear()
        bench = Bench(env, values, client, admin, tmp)
        try:
            yield bench
        finally:
            for folder in bench.outside:
                shutil.rmtree(folder, ignore_errors=True)
            get_settings.cache_clear()
            admin.close()
            client.close()


def _job_path(bench: Bench, case: dict[str, Any]) -> Path:
    """The file a case hands to the CLI."""
    path = bench.tmp / f"{case['id']}.yaml"
    if "job" in case:
        path.write_text(yaml.safe_dump(bench.fill(case["job"]), allow_unicode=True))
    elif "text" in case:
        path.write_text(case["text"])
    else:
        return _odd_file(bench, case["file"], path)
    return path


def _odd_file(bench: Bench, kind: str, path: Path) -> Path:
    if kind == "binary":
        path.write_bytes(bytes(range(256)) * 8)
    elif kind == "large":
        # valid YAML all along: only its size is wrong
        path.write_text("# padding\n" * (MAX_BYTES // 10 + 1) + Path(bench.values["FILE"]).read_text())
    elif kind == "fifo":
        path.unlink(missing_ok=True)
        os.mkfifo(path)
    elif kind == "device":
        return Path("/dev/zero")
    elif kind == "directory":
        path = bench.tmp / "a-directory"
        path.mkdir(exist_ok=True)
    elif kind == "unreadable":
        # in a folder anyone may enter (pytest's are root's own): only the file's mode refuses
        folder = Path(tempfile.mkdtemp(prefix="diskferry-unreadable-"))
        folder.chmod(0o755)
        bench.outside.append(folder)
        path = folder / "job.yaml"
        path.write_text(Path(bench.values["FILE"]).read_text())
        path.chmod(0)
    elif kind != "missing":
        raise AssertionError(f"unknown file kind {kind}")
    return path


@dataclass
class Run:
    code: int
    out: str
    err: str


@contextmanager
def _unprivileged() -> Iterator[None]:
    """Root reads a file whatever its permissions: run as nobody (the effective uid only, so
    that root comes back after) for a permission to mean anything."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


def _run(bench: Bench, argv: list[str], in_process: bool, capsys: pytest.CaptureFixture[str],
         env: dict[str, str] | None = None, unprivileged: bool = False) -> Run:
    """``diskferry ARGV`` with the bench's environment plus ``env`` (in-process: as nobody, if
    ``unprivileged``)."""
    if not in_process:
        done = subprocess.run([sys.executable, "-m", "diskferry.producer.cli", *argv], env={**bench.env, **(env or {})},
                              cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
        return Run(done.returncode, done.stdout, done.stderr)
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in (env or {}).items():
            mp.setenv(key, value)
        get_settings.cache_clear()  # settings are read once per process: read these
        try:
            with _unprivileged() if unprivileged else nullcontext():
                code = main(argv)
        finally:
            get_settings.cache_clear()
    out, err = capsys.readouterr()
    return Run(code, out, err)


def _writes(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Calls that change something: ARM writes, deletes and actions, blob calls that write."""
    return {op: n for op, n in delta(before, after).items()
            if not op.endswith("/read") and op != "oauth2.token" and not op.startswith(("blob.Get", "blob.List"))}


def _command_lines(bench: Bench, case: dict[str, Any]) -> list[list[str]]:
    if "argv" in case:
        return [bench.fill(case["argv"])]
    path = str(_job_path(bench, case))
    if case.get("process"):
        # a process costs seconds of imports: one plain and one JSON run, of each command
        return [["plan", path], ["submit", path, "--json"]]
    return [["plan", path], ["submit", path], ["plan", path, "--json"], ["submit", path, "--json"]]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input_exits_2_naming_it_and_changes_nothing(
    bench: Bench, case: dict[str, Any], capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    lines = _command_lines(bench, case)
    started = time.monotonic()
    try:
        _refused_every_time(bench, case, lines, capsys)
    except AssertionError as failed:
        _record(case, request, f"not refused as documented: {str(failed).splitlines()[0]}", started, False)
        raise
    _record(case, request, f"refused: exit 2 naming {bench.fill(case['says'])[0]!r}, nothing written "
                           f"({len(lines)} command lines)", started, True)


def _record(case: dict[str, Any], request: pytest.FixtureRequest, outcome: str, started: float,
            documented: bool) -> None:
    record_case(CaseRecord(matrix="bad-input", case=case["id"], outcome=outcome, nodeid=request.node.nodeid,
                           details={"documented": documented, "seconds": round(time.monotonic() - started, 2)}))


def _refused_every_time(bench: Bench, case: dict[str, Any], lines: list[list[str]],
                        capsys: pytest.CaptureFixture[str]) -> None:
    says = bench.fill(case["says"])
    for argv in lines:
        counters, keys = bench.admin.counters(), bench.redis.dbsize()

        run = _run(bench, argv, not case.get("process"), capsys, bench.fill(case.get("env")),
                   unprivileged=case.get("file") == "unreadable")

        shown = f"{argv}\nstdout: {run.out}\nstderr: {run.err}"
        assert run.code == 2, shown
        for text in says:
            assert text in run.err, f"{text!r} missing from {shown}"
        assert "Traceback" not in run.err + run.out, shown
        if "--json" in argv:
            doc = json.loads(run.out)
            assert doc["exit_code"] == 2
            assert says[0] in doc["error"]["message"], shown
        else:
            assert run.out == "", shown
        assert _writes(counters, bench.admin.counters()) == {}, f"Azure was written to: {shown}"
        assert bench.redis.dbsize() == keys, f"something was enqueued or recorded: {shown}"


def test_json_errors_list_every_field(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    case = next(c for c in CASES if c["id"] == "every-bad-region-at-once")
    path = _job_path(bench, case)

    run = _run(bench, ["plan", str(path), "--json"], True, capsys)

    error = json.loads(run.out)["error"]
    assert error["code"] == "InvalidJobFile"
    assert [f["field"] for f in error["fields"]] == ["targets[0].region", "targets[1].region"]


def test_the_matrix_is_large_enough() -> None:
    """Issue 9 asks for at least 50 job files and command-line misuses."""
    assert len(CASES) >= 50
    assert len({c["id"] for c in CASES}) == len(CASES)
