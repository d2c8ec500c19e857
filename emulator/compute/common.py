"""ARM plumbing shared by the Microsoft.Compute resources (disks, snapshots, VMs, images).

Every Compute resource is a document in the store under its kind (``disk``, ``snapshot``,
``vm``, ``image``), keyed by its lower-cased ARM id, with the emulator's private fields in
``doc["x"]`` (never answered). Lists scan only the keys of the scope asked for.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web

from diskferry.emulator.arm import ArmRequest, json_response, page, resource_id
from diskferry.emulator.compute import resourcegroups
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError, bad_request, not_found

Doc = dict[str, Any]

GIB = 1024**3
#: highest LUN of a data disk
MAX_LUN = 63
PROVIDER = "Microsoft.Compute"
#: path of one resource group's providers, with ``{sub}`` and ``{rg}`` parameters
RG_PROVIDERS = "/subscriptions/{sub}/resourceGroups/{rg}/providers/" + PROVIDER
SUB_PROVIDERS = "/subscriptions/{sub}/providers/" + PROVIDER


def norm_location(value: Any) -> str:
    """``West Europe`` → ``westeurope``, as ARM answers locations."""
    return str(value or "").replace(" ", "").lower()


def public(doc: Doc) -> Doc:
    """The document as ARM answers it: without the emulator's private ``x``."""
    return {k: v for k, v in doc.items() if k != "x"}


def accepted(doc: Doc) -> Doc:
    """The body of a 200/201/202 that starts an operation: the document as it is now.

    A deep copy, because with no latency the operation completes (and changes the stored
    document) before the response is written.
    """
    return copy.deepcopy(public(doc))


def key_of(rid: str) -> str:
    return rid.strip().lower()


def size_gb(size_bytes: int) -> int:
    """``diskSizeGB`` of a content of ``size_bytes`` (whole GiB, rounded up)."""
    return max(1, math.ceil(size_bytes / GIB))


class ResourceType:
    """One Compute resource type: its store kind, ARM type and paths."""

    def __init__(self, kind: str, collection: str, on_read: Callable[[Doc], Doc] | None = None) -> None:
        #: store kind ("disk", "snapshot", "vm", "image")
        self.kind = kind
        #: the collection segment ("disks", ...)
        self.collection = collection
        #: "Microsoft.Compute/disks"
        self.type = f"{PROVIDER}/{collection}"
        self.rg_path = f"{RG_PROVIDERS}/{collection}"
        self.item_path = self.rg_path + "/{name}"
        self.sub_path = f"{SUB_PROVIDERS}/{collection}"
        #: brings a document's clock-driven properties up to date before it is shown
        self.on_read = on_read or (lambda doc: doc)

    def op(self, action: str) -> str:
        """The RBAC action naming a call (counters and fault rules use it)."""
        return f"{self.type}/{action}"

    def rid(self, sub: str, rg: str, name: str) -> str:
        return resource_id(sub, rg, self.type, name)

    def key(self, sub: str, rg: str, name: str) -> str:
        return key_of(self.rid(sub, rg, name))

    # -- lookups ----------------------------------------------------------------------------
    def find(self, emu: Emulator, sub: str, rg: str, name: str) -> Doc | None:
        """The document, or None; the resource group must exist (else its 404)."""
        resourcegroups.get_rg(emu, sub, rg)
        return emu.store.get(self.kind, self.key(sub, rg, name))

    def get(self, emu: Emulator, sub: str, rg: str, name: str) -> Doc:
        """The document, or Azure's 404 (``ResourceGroupNotFound`` / ``ResourceNotFound``)."""
        doc = self.find(emu, sub, rg, name)
        if doc is None:
            raise not_found(self.type, name, rg)
        return doc

    def by_id(self, emu: Emulator, rid: str) -> Doc | None:
        return emu.store.get(self.kind, key_of(rid))

    # -- handlers shared by every type ------------------------------------------------------
    async def handle_get(self, ctx: ArmRequest) -> web.StreamResponse:
        return json_response(public(self.on_read(self.get(ctx.emu, ctx.sub, ctx.rg, ctx.params["name"]))))

    async def handle_list_rg(self, ctx: ArmRequest) -> web.StreamResponse:
        resourcegroups.get_rg(ctx.emu, ctx.sub, ctx.rg)
        prefix = self.key(ctx.sub, ctx.rg, "")
        return page(ctx, [public(self.on_read(d)) for d in ctx.emu.store.values(self.kind, prefix)])

    async def handle_list_sub(self, ctx: ArmRequest) -> web.StreamResponse:
        docs = ctx.emu.store.values(self.kind, f"/subscriptions/{ctx.sub}/")
        return page(ctx, [public(self.on_read(d)) for d in docs])


def still_placed(emu: Emulator, doc: Doc, contents: list[str]) -> None:
    """After copying content for a new resource: make sure it was not deleted meanwhile.

    A DELETE may run while a create awaits its copy; the copy then belongs to nobody.
    """
    if emu.store.get(doc["x"]["kind"], doc["id"]) is not doc:
        for file_id in contents:
            emu.drop_pages(file_id)
        raise AzureError(409, "Conflict", f"'{doc['name']}' was deleted while it was being created.")


def required(value: Any, name: str) -> Any:
    """``value``, or Azure's 400 for a missing required parameter."""
    if value is None or value == "":
        raise bad_request(f"Required parameter '{name}' is missing (null).")
    return value


def invalid(name: str, message: str | None = None) -> AzureError:
    """Azure's 400 ``InvalidParameter`` for a value it refuses."""
    return AzureError(400, "InvalidParameter", message or f"The value of parameter {name} is invalid.")


def location_conflict(doc: Doc, rg: str, location: str) -> AzureError:
    return AzureError(
        409,
        "InvalidResourceLocation",
        f"The resource '{doc['name']}' already exists in location '{doc['location']}' in resource group "
        f"'{rg}'. A resource with the same name cannot be created in location '{location}'. "
        "Please select a new resource name.",
    )


def property_change(prop: str, what: str, name: str) -> AzureError:
    return AzureError(
        409,
        "PropertyChangeNotAllowed",
        f"Changing property '{prop}' is not allowed for existing {what} '{name}'.",
    )


def resource_location(emu: Emulator, body: Doc, sub: str, rg: str) -> str:
    """The location a PUT asks for (ARM requires it), after checking the group exists."""
    resourcegroups.get_rg(emu, sub, rg)
    location = norm_location(body.get("location"))
    if not location:
        raise bad_request("The 'location' property is required for this definition.", "LocationRequired")
    return location


def tags_of(body: Doc) -> dict[str, str] | None:
    tags = body.get("tags")
    if tags is None:
        return None
    if not isinstance(tags, dict):
        raise invalid("tags")
    return {str(k): str(v) for k, v in tags.items()}


def set_tags(doc: Doc, tags: dict[str, str] | None) -> None:
    """PUT semantics: the tags given replace the old ones; none given means none."""
    if tags:
        doc["tags"] = tags
    else:
        doc.pop("tags", None)


def data_disk_luns(entries: list[Doc] | None) -> Iterator[tuple[str, int, Doc]]:
    """``(where, lun, entry)`` of each data disk entry, after Azure's LUN checks."""
    seen: set[int] = set()
    for i, entry in enumerate(entries or []):
        where = f"dataDisks[{i}]"
        try:
            lun = int(required(entry.get("lun"), f"{where}.lun"))
        except (TypeError, ValueError):
            raise invalid(f"{where}.lun") from None
        if not 0 <= lun <= MAX_LUN:
            raise invalid(f"{where}.lun", f"The value {lun} of parameter '{where}.lun' is out of range (0-{MAX_LUN}).")
        if lun in seen:
            raise invalid(f"{where}.lun", f"Two data disks use LUN {lun}; each data disk needs its own LUN.")
        seen.add(lun)
        yield where, lun, entry
