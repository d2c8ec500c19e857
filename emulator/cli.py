"""``diskferry-emulator``: run the local Azure and drive its admin API."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

from diskferry.emulator import commands
from diskferry.emulator.admin_client import AdminClient, AdminError, read_env


def _serve(args: argparse.Namespace) -> int:
    from diskferry.emulator.server import serve

    async def main() -> None:
        task = asyncio.ensure_future(serve(Path(args.state_dir), args.host, args.port, args.blob_port, args.advertise))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    return 0


def _env(args: argparse.Namespace) -> dict[str, str]:
    """The values of the ``azure.env`` that ``--env`` (or DISKFERRY_AZURE_ENV) names."""
    env_file = Path(args.env or os.environ.get("DISKFERRY_AZURE_ENV", ""))
    if env_file.is_dir():
        env_file = env_file / "azure.env"
    if not env_file.is_file():
        raise SystemExit("error: give --env DIR/azure.env (or DISKFERRY_AZURE_ENV) of a running emulator")
    return read_env(env_file)


def _client(args: argparse.Namespace) -> AdminClient:
    return AdminClient.from_env(_env(args))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="diskferry-emulator", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the local Azure in the foreground")
    s.add_argument("--state-dir", required=True)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=0, help="management port (0: any free port)")
    s.add_argument("--blob-port", type=int, default=0, help="blob service port (0: any free port)")
    s.add_argument("--advertise", help="host name clients use, when not the bound address (containers)")
    s.set_defaults(fn=_serve)

    def admin_cmd(name: str, help_: str) -> argparse.ArgumentParser:
        a = sub.add_parser(name, help=help_)
        a.add_argument("--env", help="the emulator's azure.env (or its state dir)")
        return a

    a = admin_cmd("counters", "show per-operation call counters")
    a.add_argument("--reset", action="store_true")
    a.set_defaults(fn=_counters)

    a = admin_cmd("settings", "show or change settings (KEY=JSON ...)")
    a.add_argument("changes", nargs="*")
    a.set_defaults(fn=_settings)

    a = admin_cmd("fault", "add a fault rule (JSON object with at least 'op'), or --clear")
    a.add_argument("rule", nargs="?")
    a.add_argument("--clear", action="store_true")
    a.set_defaults(fn=_fault)

    a = admin_cmd("hash", "SHA-256 of a disk's, snapshot's, image's or blob's logical content")
    a.add_argument("target", metavar="ID|URL", help="ARM id of a disk, snapshot or image, or a blob URL")
    a.add_argument("--json", action="store_true", help="machine-readable output")
    a.set_defaults(fn=lambda ns: commands.hash_cmd(_client(ns), ns))

    a = admin_cmd("audit", "list what jobs may leave behind: SAS grants, snapshots, blobs, accounts")
    a.add_argument("--tag", metavar="KEY=VALUE", help="only what carries this tag (e.g. diskferry-job=ID)")
    a.add_argument("--scope", metavar="ID_PREFIX", help="only resources whose id starts with this")
    a.add_argument("--check", action="store_true", help="exit 3 when grants, snapshots, blobs or accounts remain")
    a.add_argument("--json", action="store_true", help="machine-readable output")
    a.set_defaults(fn=lambda ns: commands.audit_cmd(_client(ns), ns))

    a = admin_cmd("seed", "create resource groups, VMs and images with deterministic random data")
    commands.seed_arguments(a)
    a.set_defaults(fn=lambda ns: commands.seed_cmd(_env(ns), ns))
    return p


def _counters(ns: argparse.Namespace) -> None:
    client = _client(ns)
    if ns.reset:
        client.reset_counters()
    commands.print_json(client.counters())


def _settings(ns: argparse.Namespace) -> None:
    client = _client(ns)
    if not ns.changes:
        commands.print_json(client.settings())
        return
    changes = {}
    for item in ns.changes:
        key, _, value = item.partition("=")
        changes[key] = json.loads(value)
    commands.print_json(client.set(**changes))


def _fault(ns: argparse.Namespace) -> None:
    client = _client(ns)
    if ns.clear:
        client.clear_faults()
    elif ns.rule:
        commands.print_json(client.add_fault(**json.loads(ns.rule)))
    else:
        commands.print_json(client.call("GET", "/faults"))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.fn(args)
    except AdminError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # the reader went away (`| head`): not an error of ours; keep Python's exit quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
