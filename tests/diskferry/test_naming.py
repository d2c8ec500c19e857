from __future__ import annotations

import re

import pytest

from diskferry import naming
from diskferry.model import SourceKind


def test_staging_account_is_a_valid_unique_account_name() -> None:
    a = naming.staging_account("0123456789ab", "sub-1", "brazilsouth")
    assert re.fullmatch(r"[a-z0-9]{3,24}", a)
    assert a == naming.staging_account("0123456789ab", "SUB-1", "Brazil South")  # same region, same account
    assert a != naming.staging_account("0123456789ab", "sub-1", "westeurope")
    assert a != naming.staging_account("0123456789ac", "sub-1", "brazilsouth")
    assert a != naming.staging_account("0123456789ab", "sub-2", "brazilsouth")  # names are global


def test_names_are_stable_functions_of_ids() -> None:
    src = naming.source_key(SourceKind.vm, "FranceCentral", "MASTER")
    assert src == "vm/francecentral/master"
    assert naming.snapshot("j1", src, "os") == naming.snapshot("j1", src, "os")
    assert naming.snapshot("j1", src, "os") != naming.snapshot("j1", src, "lun0")
    blob = naming.staged_blob("j1", src, "brazilsouth/rg", "lun0")
    assert blob.startswith("j1/") and blob.endswith("/lun0.vhd")
    assert blob != naming.staged_blob("j1", src, "westeurope/rg", "lun0")


def test_result_disk_from_template() -> None:
    name = naming.result_disk(
        "{source}-{disk}-{region}", source="MASTER", source_rg="FranceCentral", disk="MASTER_OsDisk", key="os",
        region="Brazil South", job_id="j", rg="rg",
    )
    assert name == "MASTER-MASTER_OsDisk-brazilsouth"
    short = naming.result_disk("{source}-{lun}", source="vm", source_rg="s", disk="d", key="lun3", region="r",
                               job_id="j", rg="g")
    assert short == "vm-3"


def test_source_group_keeps_same_named_sources_apart() -> None:
    def disk(source_rg: str) -> str:
        return naming.result_disk("{source_rg}-{source}-{key}-{rg}", source="app", source_rg=source_rg,
                                  disk="app-osdisk", key="os", region="westeurope", job_id="j", rg="Target")

    assert (disk("Paris"), disk("Lyon")) == ("Paris-app-os-Target", "Lyon-app-os-Target")
    image = naming.result_image("{source_rg}.{source}", source="golden", source_rg="Paris", region="r",
                                job_id="j", rg="g")
    assert image == "Paris.golden"
    naming.check_template("{source_rg}-{source}")
    naming.check_template("{source_rg}-{source}", image=True)


def test_resource_names_obey_azure_rules() -> None:
    long = naming.resource_name("x" * 200)
    assert len(long) <= 80
    assert naming.resource_name("x" * 200) == long
    assert naming.resource_name("x" * 200) != naming.resource_name("x" * 199 + "y")
    assert naming.resource_name("a b/c.") == "a-b-c"
    assert naming.resource_name("-lead")[0].isalnum()


def test_unknown_placeholder_is_refused() -> None:
    naming.check_template("{source}-{disk}-{region}")
    with pytest.raises(naming.NameTemplateError, match=r"\{vm\}"):
        naming.check_template("{vm}-{disk}")
    with pytest.raises(naming.NameTemplateError):
        naming.check_template("{disk}", image=True)


def test_result_names_are_never_rewritten() -> None:
    """The planner refuses a name that breaks Azure's rules (diskferry.rules); naming must not
    quietly make it fit, or a naming policy would be broken without anyone knowing."""
    disk = naming.result_disk("{source} {disk}.", source="vm", source_rg="s", disk="d", key="os", region="r",
                              job_id="j", rg="g")
    assert disk == "vm d."
    assert naming.result_image("{source}/" + "x" * 90, source="vm", source_rg="s", region="r", job_id="j",
                               rg="g") == "vm/" + "x" * 90
