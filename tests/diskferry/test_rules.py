"""Azure's naming rules as diskferry checks them: the rule in the message, nothing rewritten."""

from __future__ import annotations

import pytest

from diskferry import rules


@pytest.mark.parametrize("name", ["a", "MASTER-MASTER_OsDisk-brazilsouth", "x" * 80, "disk_", "a.b-c_d"])
def test_compute_names_azure_accepts(name: str) -> None:
    assert rules.compute_name_problem(name) is None


@pytest.mark.parametrize("name", ["", "x" * 81, "disk.", "disk-", "_disk", "-disk", ".disk", "a b", "a/b", "é",
                                  "a#b"])
def test_compute_names_azure_refuses_name_the_rule(name: str) -> None:
    problem = rules.compute_name_problem(name, "image")
    assert problem is not None
    assert problem.startswith("image name ")
    assert rules.COMPUTE_RULE in problem


@pytest.mark.parametrize("name", ["..", "rg.", "x" * 91, "", "a/b", "a b", "../x"])
def test_resource_group_names_azure_refuses(name: str) -> None:
    problem = rules.resource_group_problem(name)
    assert problem is not None and rules.RESOURCE_GROUP_RULE in problem


@pytest.mark.parametrize("name", ["rg", "My.Group(1)_-x", "x" * 90, ".a"])
def test_resource_group_names_azure_accepts(name: str) -> None:
    assert rules.resource_group_problem(name) is None


def test_subscription_ids_are_guids() -> None:
    assert rules.subscription_problem("0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9") is None
    assert rules.subscription_problem("prod") is not None
    assert rules.subscription_problem("../../providers") is not None
    assert rules.storage_account_problem("Bad_Name") is not None
    assert rules.storage_account_problem("brazilrepl") is None


@pytest.mark.parametrize("name", ["team/owner", "a<b", "cost%", "r&d", "a\\b", "why?", "x" * 513, ""])
def test_tag_names_azure_refuses(name: str) -> None:
    problem = rules.tag_name_problem(name)
    assert problem is not None and rules.TAG_NAME_RULE in problem
    assert rules.tag_name_problem("owner.team-1 (ops)") is None
