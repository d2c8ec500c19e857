"""The regions of the subscription: ``GET /subscriptions/{sub}/locations`` and the check that
refuses resources in a region that does not exist.

Azure answers a PUT in an unknown location with 400 and
``LocationNotAvailableForResourceGroup`` for a resource group ("The provided location 'x' is
not available for resource group. List of available regions is '...'", seen in
Azure/azure-cli#16368 and cloud-barista/cb-spider#527) and ``LocationNotAvailableForResourceType``
for a resource ("The provided location 'x' is not available for resource type
'Microsoft.Compute/disks'. List of available regions for the resource type is '...'", seen in
Azure/pcs-cli#522 and Azure/azure-rest-api-specs#8347). The list is Azure's public regions
(name and display name, as ``az account list-locations`` shows them).
"""

from __future__ import annotations

from aiohttp import web

from diskferry.emulator.arm import ArmRequest, ArmRouter, json_response
from diskferry.emulator.errors import bad_request

#: (name, display name, geography group) of Azure's public physical regions
REGIONS: tuple[tuple[str, str, str], ...] = (
    ("eastus", "East US", "US"), ("eastus2", "East US 2", "US"), ("southcentralus", "South Central US", "US"),
    ("westus2", "West US 2", "US"), ("westus3", "West US 3", "US"), ("centralus", "Central US", "US"),
    ("northcentralus", "North Central US", "US"), ("westus", "West US", "US"),
    ("westcentralus", "West Central US", "US"), ("canadacentral", "Canada Central", "Canada"),
    ("canadaeast", "Canada East", "Canada"), ("brazilsouth", "Brazil South", "South America"),
    ("brazilsoutheast", "Brazil Southeast", "South America"), ("chilecentral", "Chile Central", "South America"),
    ("mexicocentral", "Mexico Central", "Mexico"), ("northeurope", "North Europe", "Europe"),
    ("westeurope", "West Europe", "Europe"), ("uksouth", "UK South", "UK"), ("ukwest", "UK West", "UK"),
    ("francecentral", "France Central", "Europe"), ("francesouth", "France South", "Europe"),
    ("germanywestcentral", "Germany West Central", "Europe"), ("germanynorth", "Germany North", "Europe"),
    ("swedencentral", "Sweden Central", "Europe"), ("norwayeast", "Norway East", "Europe"),
    ("norwaywest", "Norway West", "Europe"), ("switzerlandnorth", "Switzerland North", "Europe"),
    ("switzerlandwest", "Switzerland West", "Europe"), ("italynorth", "Italy North", "Europe"),
    ("polandcentral", "Poland Central", "Europe"), ("spaincentral", "Spain Central", "Europe"),
    ("southafricanorth", "South Africa North", "Africa"), ("southafricawest", "South Africa West", "Africa"),
    ("uaenorth", "UAE North", "Middle East"), ("uaecentral", "UAE Central", "Middle East"),
    ("qatarcentral", "Qatar Central", "Middle East"), ("israelcentral", "Israel Central", "Middle East"),
    ("centralindia", "Central India", "Asia Pacific"), ("southindia", "South India", "Asia Pacific"),
    ("westindia", "West India", "Asia Pacific"), ("eastasia", "East Asia", "Asia Pacific"),
    ("southeastasia", "Southeast Asia", "Asia Pacific"), ("japaneast", "Japan East", "Asia Pacific"),
    ("japanwest", "Japan West", "Asia Pacific"), ("koreacentral", "Korea Central", "Asia Pacific"),
    ("koreasouth", "Korea South", "Asia Pacific"), ("indonesiacentral", "Indonesia Central", "Asia Pacific"),
    ("malaysiawest", "Malaysia West", "Asia Pacific"), ("newzealandnorth", "New Zealand North", "Asia Pacific"),
    ("australiaeast", "Australia East", "Asia Pacific"), ("australiasoutheast", "Australia Southeast", "Asia Pacific"),
    ("australiacentral", "Australia Central", "Asia Pacific"),
    ("australiacentral2", "Australia Central 2", "Asia Pacific"),
)

_NAMES = frozenset(name for name, _, _ in REGIONS)
_LIST = ",".join(name for name, _, _ in REGIONS)


def check_location(location: str, resource_type: str) -> None:
    """Refuse ``location`` (already normalised: ``westeurope``) as Azure does, unless it is one of
    its regions. ``resource_type`` is ``Microsoft.Compute/disks`` or ``resourceGroups``."""
    if location in _NAMES:
        return
    if resource_type == "resourceGroups":
        raise bad_request(
            f"The provided location '{location}' is not available for resource group. "
            f"List of available regions is '{_LIST}'.",
            "LocationNotAvailableForResourceGroup",
        )
    raise bad_request(
        f"The provided location '{location}' is not available for resource type '{resource_type}'. "
        f"List of available regions for the resource type is '{_LIST}'.",
        "LocationNotAvailableForResourceType",
    )


async def list_(ctx: ArmRequest) -> web.StreamResponse:
    """The subscription's locations, in the shape of api-version 2022-12-01 (not paged)."""
    value = [
        {
            "id": f"/subscriptions/{ctx.sub}/locations/{name}",
            "name": name,
            "type": "Region",
            "displayName": display,
            "regionalDisplayName": f"({group}) {display}",
            "metadata": {"regionType": "Physical", "regionCategory": "Recommended", "geographyGroup": group},
        }
        for name, display, group in REGIONS
    ]
    return json_response({"value": value})


def register(router: ArmRouter) -> None:
    router.add("GET", "/subscriptions/{sub}/locations", "Microsoft.Resources/subscriptions/locations/read", list_)
