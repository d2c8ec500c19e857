"""The ``hash``, ``audit`` and ``seed`` commands of ``diskferry-emulator``.

Thin shells over ``AdminClient.hash/audit`` and ``diskferry.emulator.seed``: they parse arguments
and print — Rich tables by default, JSON with ``--json``. Exit codes: 0 done, 1 the
emulator or Azure refused, 2 a bad spec or argument, 3 ``audit --check`` found leftovers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from diskferry.emulator.admin_client import LEFTOVER_KINDS, AdminClient
from diskferry.sizes import human_size

if TYPE_CHECKING:
    from diskferry.emulator.seedspec import SeedSpec

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_LEFTOVERS = 3

#: a terminal's width wraps long ids; a pipe or file gets every line whole
_PIPE_WIDTH = 100_000


def table(headers: list[str], rows: list[list[str]]) -> Table:
    """Plain columns (no borders, no colour): greppable, and what a pipe shows too."""
    t = Table(*headers, box=None, pad_edge=False, show_edge=False, header_style="", highlight=False)
    for row in rows:
        # Text, not markup: a tag value or an Azure message may hold brackets
        t.add_row(*(Text(cell) for cell in row))
    return t


def show(renderable: RenderableType) -> None:
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console = Console(highlight=False, soft_wrap=False, width=_PIPE_WIDTH)
    console.print(renderable)


def _tags(tags: dict[str, Any] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((tags or {}).items())) or "-"


def _lun(lun: int | None) -> str:
    return "os" if lun is None else str(lun)


def print_json(result: Any) -> None:
    """One JSON document on stdout (``--json``), keys sorted so that output diffs cleanly."""
    print(json.dumps(result, indent=2, sort_keys=True))


# ---------------------------------------------------------------------------------------
# hash


def hash_cmd(client: AdminClient, ns: argparse.Namespace) -> int:
    result = client.hash(ns.target)
    if ns.json:
        print_json(result)
        return 0
    print(f"{result['kind']} {result['id']}")
    if result["kind"] == "image":
        rows = [
            [_lun(d["lun"]), human_size(d["size"]), human_size(d["allocated"]), d["sha256"]] for d in result["disks"]
        ]
        show(table(["DISK", "SIZE", "ALLOCATED", "SHA-256"], rows))
    else:
        show(
            table(
                ["SIZE", "ALLOCATED", "SHA-256"],
                [[human_size(result["size"]), human_size(result["allocated"]), result["sha256"]]],
            )
        )
    return 0


# ---------------------------------------------------------------------------------------
# audit


def _detail(item: dict[str, Any]) -> str:
    kind = item["kind"]
    if kind == "grant":
        return f"{item['access']} on {item['resource']} until {item['expires'][:19]}Z"
    if kind == "blob":
        copy = f", copy {item['copy_status']}" if item.get("copy_status") else ""
        return f"{human_size(item.get('size'))}{copy}"
    parts = [item.get("location") or ""]
    if item.get("size") is not None:
        parts.append(human_size(item["size"]))
    if item.get("source"):
        parts.append(f"from {item['source'].rsplit('/', 1)[-1]}")
    return ", ".join(p for p in parts if p) or "-"


def audit_cmd(client: AdminClient, ns: argparse.Namespace) -> int:
    result = client.audit(tag=ns.tag, scope=ns.scope)
    items = result["items"]
    leftovers = [i for i in items if i["kind"] in LEFTOVER_KINDS]
    if ns.json:
        print_json(result)
    else:
        where = " ".join(f"{k} {v}" for k, v in (("tagged", ns.tag), ("under", ns.scope)) if v)
        if not items:
            print(f"audit: nothing left behind{' ' + where if where else ''}")
        else:
            rows = [[i["kind"], i["id"], _detail(i), _tags(i.get("tags"))] for i in items]
            show(table(["KIND", "ID", "DETAIL", "TAGS"], rows))
            counts = ", ".join(f"{n} {k}" for k, n in sorted(result["counts"].items()))
            print(f"audit: {len(items)} item(s){' ' + where if where else ''}: {counts}")
    return EXIT_LEFTOVERS if ns.check and leftovers else 0


# ---------------------------------------------------------------------------------------
# seed


def seed_arguments(a: argparse.ArgumentParser) -> None:
    src = a.add_mutually_exclusive_group()
    src.add_argument("--spec", type=Path, help="a YAML or JSON seed spec")
    src.add_argument("--demo", action="store_true", help="the demo: 3 VMs and 2 images in francecentral")
    a.add_argument("-g", "--resource-group", help="with --vm/--image: the resource group")
    a.add_argument("--location", help="with --vm/--image: the region (e.g. francecentral)")
    a.add_argument(
        "--vm",
        action="append",
        default=[],
        metavar="NAME=OS[,DATA...]",
        help="a VM and its disk sizes in GiB or with a unit (web-1=32,128,1TiB); repeatable",
    )
    a.add_argument("--image", action="append", default=[], metavar="NAME=OS[,DATA...]", help="an image; repeatable")
    a.add_argument("--seed", type=int, help="PRNG seed of the data (overrides the spec's)")
    a.add_argument("--data-mib", type=float, help="MiB of random data per disk (overrides the spec's)")
    a.add_argument("--json", action="store_true", help="machine-readable output")
    a.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")


def _owner(text: str) -> dict[str, Any]:
    name, sep, sizes = text.partition("=")
    if not sep or not name or not sizes:
        raise ValueError(f"expected NAME=OS[,DATA...], got {text!r}")
    os_disk, *data = [s.strip() for s in sizes.split(",")]
    return {"name": name.strip(), "os_disk": os_disk, "data_disks": data}


def spec_from_args(ns: argparse.Namespace) -> SeedSpec:
    from diskferry.emulator import seedspec

    if ns.demo:
        data: dict[str, Any] = dict(seedspec.DEMO_SPEC)
    elif ns.spec:
        data = seedspec.load_spec_data(ns.spec)
    elif ns.vm or ns.image:
        if not (ns.resource_group and ns.location):
            raise ValueError("--vm/--image need --resource-group and --location")
        data = {
            "resource_group": ns.resource_group,
            "location": ns.location,
            "vms": [_owner(v) for v in ns.vm],
            "images": [_owner(i) for i in ns.image],
        }
    else:
        raise ValueError("give --spec FILE, --demo, or --vm/--image with --resource-group and --location")
    if ns.seed is not None:
        data["seed"] = ns.seed
    if ns.data_mib is not None:
        data["data_mib"] = ns.data_mib
    return seedspec.SeedSpec.model_validate(data)


def seed_cmd(env: dict[str, str], ns: argparse.Namespace) -> int:
    # imported here: the SDKs take half a second to load, which `serve` need not pay
    from azure.core.exceptions import AzureError as SdkError
    from azure.core.exceptions import HttpResponseError

    from diskferry.emulator import seed as seeding

    try:
        spec = spec_from_args(ns)
    except (ValueError, seeding.SeedError) as exc:  # pydantic's ValidationError is a ValueError
        print(f"error: {_spec_problem(exc)}", file=sys.stderr)
        return EXIT_USAGE

    def progress(line: str) -> None:
        if not ns.quiet:
            print(line, file=sys.stderr, flush=True)

    try:
        result = seeding.seed(env, spec, progress)
    except HttpResponseError as exc:
        code = exc.error.code if exc.error is not None else exc.status_code
        print(f"error: Azure refused a seeding step: {code}: {exc.message}", file=sys.stderr)
        return EXIT_REFUSED
    except (SdkError, seeding.SeedError) as exc:
        print(f"error: seeding failed: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if ns.json:
        print_json(result.to_json())
        return 0
    rows = []
    for item in result.items:
        for disk in item.disks:
            state = "created" if item.created else "kept"
            rows.append(
                [
                    item.kind,
                    f"{item.resource_group}/{item.name}",
                    _lun(disk.lun),
                    f"{disk.size_gb} GiB",
                    state,
                    disk.sha256,
                ]
            )
    show(table(["KIND", "NAME", "DISK", "SIZE", "STATE", "SHA-256"], rows))
    vms = sum(1 for i in result.items if i.kind == "vm")
    print(f"seeded: {vms} VM(s), {len(result.items) - vms} image(s), {len(rows)} disk(s)")
    return 0


def _spec_problem(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "spec"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        return f"invalid seed spec: {where}: {first['msg']}{more}"
    return str(exc)
