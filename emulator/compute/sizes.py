"""VM sizes per region and zone: the ``resourceSkus`` and ``vmSizes`` lists, and the VM checks.

``az vm list-skus`` and plan-time checks call ``GET …/providers/Microsoft.Compute/skus``
(``compute.resource_skus.list(filter="location eq '…'")``): one entry per size and region,
the region's zones in ``locationInfo`` and the zones the size is *not* offered in as a
``Zone`` restriction. ``compute.virtual_machine_sizes.list(location)`` (``…/locations/{loc}/
vmSizes``) lists the sizes of a region without zones. Both read the table below; a VM PUT
checks its size against it (``InvalidParameter`` for a size the region does not offer,
``SkuNotAvailable`` for a zone it is restricted in).

The table is small and illustrative of real offerings (general-purpose sizes everywhere,
M- and NC-series in a few regions, Standard_D2s_v3 not in eastus zone 3, as reported in
public issues); a region missing from it offers the general-purpose sizes, without zones.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from diskferry.emulator.arm import ArmRequest, ArmRouter, json_response, page
from diskferry.emulator.compute.common import PROVIDER, SUB_PROVIDERS, Doc, norm_location
from diskferry.emulator.errors import AzureError


@dataclass(frozen=True)
class Size:
    name: str
    family: str
    cores: int
    memory_mb: int
    max_data_disks: int
    max_nics: int
    resource_disk_mb: int = 0


GENERAL = (
    Size("Standard_B2s", "standardBSFamily", 2, 4096, 4, 3, 8192),
    Size("Standard_D2s_v3", "standardDSv3Family", 2, 8192, 4, 2, 16384),
    Size("Standard_D4s_v3", "standardDSv3Family", 4, 16384, 8, 2, 32768),
    Size("Standard_D2s_v5", "standardDSv5Family", 2, 8192, 4, 2),
    Size("Standard_D4s_v5", "standardDSv5Family", 4, 16384, 8, 2),
    Size("Standard_E4s_v5", "standardESv5Family", 4, 32768, 8, 2),
    Size("Standard_F2s_v2", "standardFSv2Family", 2, 4096, 4, 2, 16384),
)
M64S = Size("Standard_M64s", "standardMSFamily", 64, 1024000, 64, 8, 2048000)
NC6S_V3 = Size("Standard_NC6s_v3", "standardNCSv3Family", 6, 114688, 12, 4, 344064)
BY_NAME = {s.name.lower(): s for s in (*GENERAL, M64S, NC6S_V3)}


@dataclass(frozen=True)
class Region:
    zones: tuple[str, ...]
    sizes: tuple[Size, ...]
    #: size name -> zones of the region it is not offered in
    restricted: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def zones_of(self, size: Size) -> tuple[str, ...]:
        hidden = dict(self.restricted).get(size.name, ())
        return tuple(z for z in self.zones if z not in hidden)


ZONES = ("1", "2", "3")
REGIONS: dict[str, Region] = {
    "westeurope": Region(ZONES, (*GENERAL, M64S, NC6S_V3)),
    "francecentral": Region(ZONES, GENERAL),
    "brazilsouth": Region(ZONES, GENERAL, (("Standard_E4s_v5", ("3",)),)),
    "eastus": Region(ZONES, (*GENERAL, M64S, NC6S_V3), (("Standard_D2s_v3", ("3",)),)),
    "japaneast": Region(ZONES, (*GENERAL, NC6S_V3)),
    "northcentralus": Region((), GENERAL),
    "westus": Region((), GENERAL),
}
#: a region missing from the table
DEFAULT = Region((), GENERAL)


def region(location: str) -> Region:
    return REGIONS.get(norm_location(location), DEFAULT)


# ---------------------------------------------------------------------------------------
# the checks a VM PUT makes


def check(vm_id: str, sub: str, location: str, size_name: str, zones: list[str]) -> Size:
    """The size a VM asks for, if the region (and zone) offers it; else Azure's error."""
    place = region(location)
    size = BY_NAME.get(size_name.lower())
    if size is None or size not in place.sizes:
        offered = ",".join(s.name for s in place.sizes)
        raise AzureError(
            400,
            "InvalidParameter",
            f"The requested VM size {size_name} is not available in the current region. The sizes available in "
            f"the current region are: {offered}. Find out more on the available VM sizes in each region at "
            "https://aka.ms/azure-regions.",
        )
    if zones and not set(zones) <= set(place.zones_of(size)):
        raise AzureError(
            409,
            "SkuNotAvailable",
            f"The requested size for resource '{vm_id}' is currently not available in location '{location}' zones "
            f"'{','.join(zones)}' for subscription '{sub}'. Please try another size or deploy to a different "
            "location or zones. See https://aka.ms/azureskunotavailable for details.",
        )
    return size


def check_zones(rtype: str, name: str, location: str, zones: list[str], *, single: bool = True) -> None:
    """A zonal request: zones the region has (and only one, for a ``single``-zone resource like a VM)."""
    if not zones:
        return
    place = region(location)
    if not place.zones:
        raise AzureError(
            400,
            "LocationNotSupportAvailabilityZones",
            f"The resource '{rtype}/{name}' does not support availability zones at location '{location}'.",
        )
    if single and len(zones) > 1:
        raise AzureError(
            400,
            "ResourceCannotHaveMultipleZonesSpecified",
            f"Resource {rtype}/{name} has {len(zones)} zones specified. Only one zone can be specified for this "
            "resource.",
        )
    unknown = [z for z in zones if z not in place.zones]
    if unknown:
        raise AzureError(
            400,
            "InvalidAvailabilityZone",
            f"The zone(s) '{','.join(unknown)}' for resource '{rtype}/{name}' is not supported. The supported zones "
            f"for location '{location}' are '{','.join(place.zones)}'.",
        )


# ---------------------------------------------------------------------------------------
# the two list APIs


def _capabilities(size: Size) -> list[Doc]:
    values = {
        "vCPUs": size.cores,
        "MemoryGB": size.memory_mb / 1024,
        "MaxDataDiskCount": size.max_data_disks,
        "MaxNetworkInterfaces": size.max_nics,
        "PremiumIO": "True",
    }
    return [{"name": k, "value": str(v)} for k, v in values.items()]


def sku_entry(location: str, place: Region, size: Size) -> Doc:
    hidden = [z for z in place.zones if z not in place.zones_of(size)]
    restrictions = []
    if hidden:
        restrictions.append({
            "type": "Zone",
            "values": [location],
            "restrictionInfo": {"locations": [location], "zones": hidden},
            "reasonCode": "NotAvailableForSubscription",
        })
    return {
        "resourceType": "virtualMachines",
        "name": size.name,
        "tier": "Standard",
        "size": size.name.removeprefix("Standard_"),
        "family": size.family,
        "locations": [location],
        "locationInfo": [{"location": location, "zones": list(place.zones), "zoneDetails": []}],
        "capabilities": _capabilities(size),
        "restrictions": restrictions,
    }


def _filter_location(raw: str) -> str | None:
    """``location eq 'westeurope'`` → ``westeurope`` (the only filter the API takes)."""
    text = raw.strip()
    if not text:
        return None
    head, _, value = text.partition(" eq ")
    if head.strip().lower() != "location" or not value.strip().startswith("'"):
        raise AzureError(400, "InvalidFilter", f"The filter '{raw}' is not supported: use location eq '<location>'.")
    return norm_location(value.strip().strip("'"))


async def list_skus(ctx: ArmRequest) -> web.StreamResponse:
    wanted = _filter_location(ctx.request.query.get("$filter", ""))
    locations = [wanted] if wanted else sorted(REGIONS)
    items = [sku_entry(loc, region(loc), s) for loc in locations for s in region(loc).sizes]
    return page(ctx, items)


async def list_vm_sizes(ctx: ArmRequest) -> web.StreamResponse:
    sizes = region(ctx.params["location"]).sizes
    return json_response({
        "value": [
            {
                "name": s.name,
                "numberOfCores": s.cores,
                "osDiskSizeInMB": 1047552,
                "resourceDiskSizeInMB": s.resource_disk_mb,
                "memoryInMB": s.memory_mb,
                "maxDataDiskCount": s.max_data_disks,
            }
            for s in sizes
        ]
    })


def register(router: ArmRouter) -> None:
    router.add("GET", f"{SUB_PROVIDERS}/skus", f"{PROVIDER}/skus/read", list_skus)
    sizes_path = SUB_PROVIDERS + "/locations/{location}/vmSizes"
    router.add("GET", sizes_path, f"{PROVIDER}/locations/vmSizes/read", list_vm_sizes)
