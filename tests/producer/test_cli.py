"""The ``diskferry`` entry point in-process: exit codes and the one line each failure prints.

These run ``main()`` itself (the console script's function) with a chosen environment; the
end-to-end runs against real workers are in ``tests/fleet/test_cli.py``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml

from diskferry.config.settings import get_settings
from diskferry.producer.cli import main
from diskferry.tasks.preflight import check_redis
from diskferry.vault import new_key
from tests.redisserver import RedisServer

COMMANDS = [["list"], ["status", "abc"], ["watch", "abc"], ["plan", "job.yaml"], ["submit", "job.yaml"], ["worker"]]


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Each test's environment is read anew; no variable of the developer's leaks in."""
    for name in list(os.environ):
        if name.startswith(("DISKFERRY_", "AZURE_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    with (tmp_path / "job.yaml").open("w") as f:
        yaml.safe_dump({"source": {"subscription_id": "00000000-0000-0000-0000-000000000000",
                                   "resource_group": "rg", "vms": ["vm"]},
                        "targets": [{"region": "westeurope", "resource_group": "we"}]}, f)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port held bound but not listening for the test: connections to it are
    refused at once, and no other process can take it meanwhile."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_every_command_and_loads_neither_celery_nor_an_sdk() -> None:
    probe = ("import sys; from diskferry.producer.cli import main; code = main(['--help']); "
             "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'celery', 'kombu', 'azure', 'billiard'}); "
             "print(code, heavy, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stderr.strip() == "0 []"
    for command in ("plan", "submit", "status", "watch", "list", "worker"):
        assert f"  {command} " in done.stdout


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_an_invalid_setting_is_exit_2_and_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.setenv("DISKFERRY_POLL_SECONDS", "abc")
    code, out, err = run(capsys, *args)
    assert code == 2
    assert err.strip().splitlines() == ["error: invalid settings: DISKFERRY_POLL_SECONDS: expected a number, got 'abc'"]
    assert out == ""


@pytest.mark.parametrize("args", [["list"], ["status", "abc"], ["watch", "abc"]], ids=lambda a: a[0])
def test_redis_unreachable_is_exit_3_and_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, closed_port: int, args: list[str]
) -> None:
    monkeypatch.setenv("DISKFERRY_BROKER_URL", f"redis://127.0.0.1:{closed_port}/0")
    code, out, err = run(capsys, *args)
    assert code == 3
    assert err.strip().splitlines() == [
        f"error: cannot reach Redis or the broker: Error 111 connecting to 127.0.0.1:{closed_port}. Connection refused."
    ]
    assert "Traceback" not in out + err


def test_json_mode_answers_errors_as_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    monkeypatch.setenv("DISKFERRY_BROKER_URL", f"redis://127.0.0.1:{closed_port}/0")
    code, out, err = run(capsys, "list", "--json")
    assert code == 3
    assert "Traceback" not in out + err
    doc = json.loads(out)
    assert doc["exit_code"] == 3 and doc["error"]["code"] == "RedisUnavailable"
    assert "Connection refused" in doc["error"]["message"]


@pytest.mark.parametrize(("key", "message"), [
    (None, "DISKFERRY_VAULT_KEY is not set"),
    ("not-a-key", "DISKFERRY_VAULT_KEY is not a Fernet key"),
])
def test_a_worker_without_a_usable_vault_key_refuses_to_start(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, key: str | None, message: str
) -> None:
    if key:
        monkeypatch.setenv("DISKFERRY_VAULT_KEY", key)
    code, out, err = run(capsys, "worker")
    assert (code, out) == (2, "")
    assert len(err.strip().splitlines()) == 1 and message in err


def test_a_worker_whose_redis_does_not_answer_refuses_to_start(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    monkeypatch.setenv("DISKFERRY_VAULT_KEY", new_key())
    monkeypatch.setenv("DISKFERRY_BROKER_URL", f"redis://:hunter2@127.0.0.1:{closed_port}/0")
    code, out, err = run(capsys, "worker", "--skip-azure-check")
    assert code == 3
    assert err.strip().splitlines() == [
        f"error: RedisUnavailable: DISKFERRY_BROKER_URL: redis://127.0.0.1:{closed_port}/0 does not answer "
        f"(Error 111 connecting to 127.0.0.1:{closed_port}. Connection refused.)"
    ]
    assert "hunter2" not in out + err


def test_a_worker_whose_redis_evicts_keys_refuses_to_start(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Azure Cache for Redis defaults to maxmemory-policy volatile-lru: under memory pressure it
    would drop job records and queued tasks (all of diskferry's keys have TTLs)."""
    with RedisServer(tmp_path, ["--maxmemory", "64mb", "--maxmemory-policy", "volatile-lru"]) as server:
        monkeypatch.setenv("DISKFERRY_VAULT_KEY", new_key())
        monkeypatch.setenv("DISKFERRY_BROKER_URL", server.url(0))
        code, out, err = run(capsys, "worker", "--skip-azure-check")
        assert (code, out) == (2, "")
        assert err.strip().splitlines() == [
            f"error: invalid settings: DISKFERRY_BROKER_URL: redis://127.0.0.1:{server.port}/0 evicts keys when full "
            "(maxmemory 64 MiB, maxmemory-policy volatile-lru): jobs, queued tasks and their results could vanish "
            "mid-job. Set maxmemory-policy to noeviction (or maxmemory to 0)"
        ]
        # a full Redis that refuses writes instead is what diskferry can work with
        client = redis.Redis.from_url(server.url(0))
        client.config_set("maxmemory-policy", "noeviction")
        client.close()
        check_redis("DISKFERRY_BROKER_URL", server.url(0))


def test_an_unknown_job_is_bad_input(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                     redis_url: str) -> None:
    monkeypatch.setenv("DISKFERRY_BROKER_URL", redis_url)
    code, out, err = run(capsys, "status", "nosuchjob")
    assert (code, out) == (2, "")
    assert err.strip().splitlines() == ["error: no job 'nosuchjob' (unknown or expired)"]
