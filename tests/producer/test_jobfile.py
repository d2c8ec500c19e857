from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from diskferry.errors import JobFileError
from diskferry.model import Consistency, ImageMode
from diskferry.producer import jobfile

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
source:
  resource_group: FranceCentral
  vms: [MASTER, web-1]
  images: [golden-ubuntu]
targets:
  - region: brazilsouth
    resource_group: BrazilSouth
    staging_account: brazilrepl
    sku: Standard_LRS
  - region: West Europe
    resource_group: WestEurope
    zone: 2
options:
  consistency: deallocate
  tags: {owner: ops}
"""


def _base(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "source": {"resource_group": "rg", "vms": ["a"]},
        "targets": [{"region": "brazilsouth", "resource_group": "br"}],
    }
    doc.update(changes)
    return doc


def test_a_good_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(GOOD)
    spec = jobfile.load(path)
    assert [s.vms for s in spec.all_sources] == [["MASTER", "web-1"]]
    assert spec.targets[0].staging_account == "brazilrepl"
    assert spec.targets[1].zone == "2"
    assert spec.options.consistency is Consistency.deallocate
    assert spec.options.image_mode is ImageMode.auto
    assert spec.options.name == "{source}-{disk}-{region}"


def test_json_is_accepted_too(tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    path.write_text(json.dumps(_base(options={"image": True})))
    assert jobfile.load(path).options.image_mode is ImageMode.always


@pytest.mark.parametrize(
    ("doc", "field", "words"),
    [
        (_base(targets=[{"region": "brazilsouth"}]), "targets[0].resource_group", "required"),
        (_base(targets=[]), "targets", "at least 1"),
        (_base(targets=[{"region": "br", "resource_group": "r", "sku": "Gold"}]), "targets[0].sku", "Standard_LRS"),
        (_base(targets=[{"region": "br", "resource_group": "r", "sku": "UltraSSD_LRS"}]), "targets[0].sku", "OS disk"),
        (_base(targets=[{"region": "br", "resource_group": "r", "zone": 4}]), "targets[0].zone", "'1'"),
        (_base(targets=[{"region": "br", "resource_group": "r", "staging_account": "Bad_Name"}]),
         "targets[0].staging_account", "pattern"),
        (_base(targets=[{"region": "br", "resource_group": "r", "bogus": 1}]), "targets[0].bogus", "unknown field"),
        (_base(source={"resource_group": "rg"}), "source", "at least one VM"),
        (_base(source={"resource_group": "rg", "vms": ["a", "A"]}), "source", "more than once"),
        (_base(options={"consistency": "freeze"}), "options.consistency", "snapshot"),
        (_base(options={"name": "{vm}-{disk}"}), "options.name", "{vm}"),
        (_base(options={"image_name": "{disk}"}), "options.image_name", "{disk}"),
        (_base(options={"image": "maybe"}), "options.image", "auto"),
        (_base(options={"tags": {"diskferry-job": "x"}}), "options.tags", "diskferry's own"),
        (_base(targets=[{"region": "br", "resource_group": "r"}, {"region": "BR", "resource_group": "R"}]),
         "", "listed twice"),
        ({"targets": [{"region": "br", "resource_group": "r"}]}, "", "exactly one of 'source' or 'sources'"),
    ],
)
def test_invalid_files_name_the_field(doc: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(JobFileError) as err:
        jobfile.parse(doc)
    assert err.value.field == field
    assert words in err.value.message
    assert err.value.code == "InvalidJobFile"


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("source: [unclosed\n")
    with pytest.raises(JobFileError, match="line"):
        jobfile.load(path)
    path.write_text("- just\n- a list\n")
    with pytest.raises(JobFileError, match="mapping"):
        jobfile.load(path)
    with pytest.raises(JobFileError, match="cannot read"):
        jobfile.load(tmp_path / "missing.yaml")


def test_schema_file_is_current() -> None:
    assert (ROOT / "docs" / "jobfile.schema.json").read_text() == jobfile.schema_text()
    schema = jobfile.schema()
    assert set(schema["properties"]) == {"source", "sources", "targets", "options"}
    assert schema["examples"]
