"""The seed spec: sizes, the single-group shorthand, LUNs, errors that name the field, files,
and the demo's spec."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from diskferry.emulator import seedspec
from diskferry.emulator.seedspec import SeedSpec, parse_size_gib


@pytest.mark.parametrize(
    ("text", "gib"),
    [(32, 32), ("32", 32), ("32G", 32), ("64GiB", 64), ("1T", 1024), ("1TiB", 1024), (" 2 tb ", 2048)],
)
def test_sizes(text: object, gib: int) -> None:
    assert parse_size_gib(text) == gib


@pytest.mark.parametrize("text", ["0", "32M", "big", 40000, True, "-1"])
def test_bad_sizes(text: object) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size_gib(text)


def test_single_group_shorthand_and_default_luns() -> None:
    spec = SeedSpec.model_validate(
        {
            "resource_group": "RG",
            "location": "France Central",
            "vms": [{"name": "v", "os_disk": "64GiB", "data_disks": ["1TiB", {"size_gb": 32, "lun": 5}, 8]}],
        }
    )
    (group,) = spec.resource_groups
    assert (group.name, group.location) == ("RG", "francecentral")
    vm = group.vms[0]
    assert vm.os_disk.size_gb == 64
    assert [(d.lun, d.size_gb) for d in vm.data_disks] == [(0, 1024), (5, 32), (2, 8)]


def test_spec_errors_name_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        SeedSpec.model_validate({"resource_group": "RG", "location": "x", "vms": [{"name": "v", "os_disk": "huge"}]})
    assert err.value.errors()[0]["loc"][:4] == ("resource_groups", 0, "vms", 0)
    with pytest.raises(ValidationError, match="LUNs repeat"):
        SeedSpec.model_validate(
            {
                "resource_group": "RG",
                "location": "x",
                "images": [
                    {"name": "i", "os_disk": 1, "data_disks": [{"size_gb": 1, "lun": 1}, {"size_gb": 1, "lun": 1}]}
                ],
            }
        )
    with pytest.raises(ValidationError, match="extra"):
        SeedSpec.model_validate({"resource_groups": [], "colour": "blue"})


def test_spec_file(tmp_path: Path) -> None:
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seedspec.DEMO_SPEC))
    assert SeedSpec.load(path) == seedspec.demo_spec()
    (tmp_path / "bad.yaml").write_text("- just\n- a list\n")
    with pytest.raises(seedspec.SeedError, match="not a mapping"):
        SeedSpec.load(tmp_path / "bad.yaml")


def test_demo_spec_is_what_the_demo_promises() -> None:
    spec = seedspec.demo_spec()
    (group,) = spec.resource_groups
    assert (group.name, group.location) == ("FranceCentral", "francecentral")
    assert len(group.vms) == 3 and len(group.images) == 2
    assert {len(vm.data_disks) for vm in group.vms} == {1, 2, 3}
    sizes = [d.size_gb for o in [*group.vms, *group.images] for d in [o.os_disk, *o.data_disks]]
    assert min(sizes) == 32 and max(sizes) == 1024
