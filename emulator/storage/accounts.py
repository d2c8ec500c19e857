"""Storage accounts in ARM (Microsoft.Storage/storageAccounts).

Create is a long-running operation the way the storage RP runs it: ``202`` with a
``Location`` (no ``Azure-AsyncOperation``) that answers ``202`` until done and then ``200``
with the account, which is what azure-mgmt-storage's ``begin_create`` polls for. The name
is reserved (and the account visible as ``Creating``) from the moment the PUT is accepted,
because names are global. Deleting an account deletes its containers and blobs.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from diskferry.emulator import clock
from diskferry.emulator.arm import ArmRequest, ArmRouter, completion, json_response, page, resource_id
from diskferry.emulator.compute import resourcegroups
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError, bad_request, not_found
from diskferry.emulator.locations import check_location
from diskferry.emulator.storage import model

Doc = dict[str, Any]

PROVIDER = "/subscriptions/{sub}/providers/Microsoft.Storage"
ACCOUNTS = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts"
ACCOUNT = ACCOUNTS + "/{name}"
OP = "Microsoft.Storage/storageAccounts"

SKUS = {
    "Standard_LRS", "Standard_GRS", "Standard_RAGRS", "Standard_ZRS",
    "Premium_LRS", "Premium_ZRS", "Standard_GZRS", "Standard_RAGZRS",
}
KINDS = {"Storage", "StorageV2", "BlobStorage", "FileStorage", "BlockBlobStorage"}


def _invalid_name(name: str) -> AzureError:
    return AzureError(
        400,
        "AccountNameInvalid",
        f"{name} is not a valid storage account name. Storage account name must be between 3 "
        "and 24 characters in length and use numbers and lower-case letters only.",
    )


def _key(sub: str, rg: str, name: str) -> str:
    return resource_id(sub, rg, "Microsoft.Storage/storageAccounts", name)


def public(emu: Emulator, doc: Doc) -> Doc:
    """The account as ARM returns it (endpoints filled in from the running server)."""
    out = {k: v for k, v in doc.items() if k != "x"}
    props = dict(out["properties"])
    props["primaryEndpoints"] = {"blob": f"{emu.blob_url}/{doc['name']}/"}
    out["properties"] = props
    return out


def get_account(emu: Emulator, sub: str, rg: str, name: str) -> Doc:
    resourcegroups.get_rg(emu, sub, rg)
    doc = emu.store.get(model.ACCOUNT_KIND, _key(sub, rg, name))
    if doc is None:
        raise not_found("Microsoft.Storage/storageAccounts", name, rg)
    return doc


async def create(ctx: ArmRequest) -> web.StreamResponse:
    name = ctx.params["name"]
    if not model.ACCOUNT_NAME.match(name):
        raise _invalid_name(name)
    rg = resourcegroups.get_rg(ctx.emu, ctx.sub, ctx.rg)
    body = await ctx.body()
    location = str(body.get("location", "")).replace(" ", "").lower()
    if not location:
        raise bad_request("The 'location' property is required.", "LocationRequired")
    check_location(location, "Microsoft.Storage/storageAccounts")
    sku = str((body.get("sku") or {}).get("name", ""))
    if sku not in SKUS:
        raise bad_request(f"The value '{sku}' is not a valid SKU name.", "InvalidValuesForRequestParameters")
    kind = str(body.get("kind", ""))
    if kind not in KINDS:
        raise bad_request(f"The value '{kind}' is not a valid kind.", "InvalidValuesForRequestParameters")
    key = _key(ctx.sub, ctx.rg, name)
    existing = model.find_account(ctx.emu, name)
    if existing is not None:
        if existing["id"].lower() != key.lower():
            raise AzureError(409, "StorageAccountAlreadyTaken", f"The storage account named {name} is already taken.")
        if existing["location"] != location:
            raise AzureError(
                409,
                "StorageAccountAlreadyExists",
                f"The storage account named {name} already exists under the subscription.",
            )
        # an update through PUT: synchronous, as the storage RP answers it
        existing["tags"] = body.get("tags") or {}
        existing["sku"] = _sku(sku)
        ctx.emu.store.put(model.ACCOUNT_KIND, key, existing)
        return json_response(public(ctx.emu, existing), 200)

    now = clock.now()
    props = body.get("properties") or {}
    doc: Doc = {
        "id": resource_id(ctx.sub, str(rg["name"]), "Microsoft.Storage/storageAccounts", name),
        "name": name,
        "type": model.ACCOUNT_TYPE,
        "location": location,
        "tags": body.get("tags") or {},
        "sku": _sku(sku),
        "kind": kind,
        "properties": {
            "provisioningState": "Creating",
            "creationTime": clock.iso(now),
            "primaryLocation": location,
            "statusOfPrimary": "available",
            "accessTier": props.get("accessTier", "Hot") if kind != "Storage" else None,
            "supportsHttpsTrafficOnly": props.get("supportsHttpsTrafficOnly", True),
            "allowBlobPublicAccess": props.get("allowBlobPublicAccess", False),
            "allowSharedKeyAccess": props.get("allowSharedKeyAccess", True),
            "minimumTlsVersion": props.get("minimumTlsVersion", "TLS1_2"),
            "keyCreationTime": {"key1": clock.iso(now), "key2": clock.iso(now)},
            "encryption": {
                "keySource": "Microsoft.Storage",
                "services": {"blob": {"enabled": True, "keyType": "Account"}},
            },
        },
        "x": {"keys": [model.new_key(), model.new_key()], "created": now},
    }
    doc["properties"] = {k: v for k, v in doc["properties"].items() if v is not None}
    ctx.emu.store.put(model.ACCOUNT_KIND, key, doc)
    ops = ctx.emu.operations
    response: web.StreamResponse = ops.begin(
        ctx, "storageaccounts.create", {"key": key}, location=location, async_header=False
    )
    return response


def _sku(name: str) -> Doc:
    return {"name": name, "tier": name.split("_", 1)[0]}


@completion("storageaccounts.create")
def _create_done(emu: Emulator, args: Doc) -> Doc | None:
    doc = emu.store.get(model.ACCOUNT_KIND, str(args["key"]))
    if doc is None:
        raise AzureError(404, "StorageAccountNotFound", "The storage account was deleted while being created.")
    doc["properties"]["provisioningState"] = "Succeeded"
    emu.store.put(model.ACCOUNT_KIND, str(args["key"]), doc)
    return public(emu, doc)


async def get(ctx: ArmRequest) -> web.StreamResponse:
    return json_response(public(ctx.emu, get_account(ctx.emu, ctx.sub, ctx.rg, ctx.params["name"])))


#: properties of StorageAccountUpdateParameters the emulator keeps (allowSharedKeyAccess: what
#: Azure Policy's "modify" effect turns off on accounts that enterprises lock down)
_UPDATABLE = frozenset({"accessTier", "supportsHttpsTrafficOnly", "allowBlobPublicAccess", "allowSharedKeyAccess",
                        "minimumTlsVersion"})


async def update(ctx: ArmRequest) -> web.StreamResponse:
    doc = get_account(ctx.emu, ctx.sub, ctx.rg, ctx.params["name"])
    body = await ctx.body()
    if "tags" in body:
        doc["tags"] = body.get("tags") or {}
    if (body.get("sku") or {}).get("name") in SKUS:
        doc["sku"] = _sku(body["sku"]["name"])
    # the settings an Update (PATCH) changes that the blob port acts on or shows, as given
    changed = {k: v for k, v in (body.get("properties") or {}).items() if k in _UPDATABLE and v is not None}
    doc["properties"].update(changed)
    ctx.emu.store.put(model.ACCOUNT_KIND, doc["id"], doc)
    return json_response(public(ctx.emu, doc))


async def list_by_rg(ctx: ArmRequest) -> web.StreamResponse:
    resourcegroups.get_rg(ctx.emu, ctx.sub, ctx.rg)
    prefix = f"/subscriptions/{ctx.sub}/resourcegroups/{ctx.rg}/providers/microsoft.storage/storageaccounts/"
    return page(ctx, [public(ctx.emu, d) for d in ctx.emu.store.values(model.ACCOUNT_KIND, prefix)])


async def list_by_sub(ctx: ArmRequest) -> web.StreamResponse:
    docs = ctx.emu.store.values(model.ACCOUNT_KIND, f"/subscriptions/{ctx.sub}/")
    return page(ctx, [public(ctx.emu, d) for d in docs])


async def delete(ctx: ArmRequest) -> web.StreamResponse:
    resourcegroups.get_rg(ctx.emu, ctx.sub, ctx.rg)
    key = _key(ctx.sub, ctx.rg, ctx.params["name"])
    doc = ctx.emu.store.get(model.ACCOUNT_KIND, key)
    if doc is None:
        return web.Response(status=204)
    delete_account(ctx.emu, doc)
    return web.Response(status=200)


def delete_account(emu: Emulator, doc: Doc) -> None:
    model.delete_account_data(emu, doc["name"])
    emu.store.delete(model.ACCOUNT_KIND, doc["id"])


def _rg_deleted(emu: Emulator, prefix: str) -> None:
    for doc in list(emu.store.values(model.ACCOUNT_KIND, prefix)):
        delete_account(emu, doc)


async def list_keys(ctx: ArmRequest) -> web.StreamResponse:
    doc = get_account(ctx.emu, ctx.sub, ctx.rg, ctx.params["name"])
    return json_response(_keys_body(doc))


def _keys_body(doc: Doc) -> Doc:
    times = doc["properties"].get("keyCreationTime", {})
    return {
        "keys": [
            {"keyName": f"key{i + 1}", "value": value, "permissions": "FULL", "creationTime": times.get(f"key{i + 1}")}
            for i, value in enumerate(model.account_keys(doc))
        ]
    }


async def regenerate_key(ctx: ArmRequest) -> web.StreamResponse:
    doc = get_account(ctx.emu, ctx.sub, ctx.rg, ctx.params["name"])
    body = await ctx.body()
    which = {"key1": 0, "key2": 1}.get(str(body.get("keyName", "")).lower())
    if which is None:
        raise bad_request("The keyName must be key1 or key2.", "InvalidValuesForRequestParameters")
    doc["x"]["keys"][which] = model.new_key()
    doc["properties"].setdefault("keyCreationTime", {})[f"key{which + 1}"] = clock.iso()
    ctx.emu.store.put(model.ACCOUNT_KIND, doc["id"], doc)
    return json_response(_keys_body(doc))


async def check_name(ctx: ArmRequest) -> web.StreamResponse:
    body = await ctx.body()
    name = str(body.get("name", ""))
    if not model.ACCOUNT_NAME.match(name):
        reason, message = "AccountNameInvalid", _invalid_name(name).message
    elif model.find_account(ctx.emu, name) is not None:
        reason, message = "AlreadyExists", f"The storage account named {name} is already taken."
    else:
        return json_response({"nameAvailable": True})
    return json_response({"nameAvailable": False, "reason": reason, "message": message})


def register(router: ArmRouter) -> None:
    router.add("PUT", ACCOUNT, f"{OP}/write", create)
    router.add("PATCH", ACCOUNT, f"{OP}/write", update)
    router.add("GET", ACCOUNT, f"{OP}/read", get)
    router.add("DELETE", ACCOUNT, f"{OP}/delete", delete)
    router.add("GET", ACCOUNTS, f"{OP}/read", list_by_rg)
    router.add("GET", PROVIDER + "/storageAccounts", f"{OP}/read", list_by_sub)
    router.add("POST", ACCOUNT + "/listKeys", f"{OP}/listkeys/action", list_keys)
    router.add("POST", ACCOUNT + "/regenerateKey", f"{OP}/regeneratekey/action", regenerate_key)
    router.add("POST", PROVIDER + "/checkNameAvailability", "Microsoft.Storage/checkNameAvailability/read", check_name)
    if _rg_deleted not in resourcegroups.RG_DELETE_HOOKS:
        resourcegroups.RG_DELETE_HOOKS.append(_rg_deleted)
