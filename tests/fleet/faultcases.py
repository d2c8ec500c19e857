"""The fault matrix, as data: each case is a fault Azure can give (the emulator's knobs that
make it) and the outcome diskferry documents for it.

A case owns one source (a one-disk VM, or an image) in a job shared with other cases of its
run: its rules aim at that source's own resources only (``target`` patterns, filled in by
:func:`rules_for`), so the cases of one run stay independent and show, together, that the
others went on. Placeholders in a rule's ``target``:

``{snapshot}``  the temporary snapshot of the case's OS disk (ARM path)
``{blob}``      its staged VHD (blob path)
``{disk}``      its result disk (ARM path)
``{image}``     its result image (ARM path)

Outcomes: ``succeeded`` (Azure's fault was retried or the copy restarted, and the disk made
it), or ``failed: <Azure's code>`` (that disk failed, with the code Azure gave, while the
other cases' disks went on). Codes and messages are Azure's (sources in
``docs/emulator-faults.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from diskferry import naming
from diskferry.model import SourceKind

#: the region every case replicates to (its own run's quota region aside)
REGION = "westeurope"

Run = Literal["mixed", "more", "quota", "staging", "locked", "locked-norole"]
#: what a test does mid-job: delete the source before its snapshot; delete the staging account mid-copy,
#: or turn off its shared-key access (as Azure Policy's "modify" effect does in locked-down subscriptions)
Action = Literal["delete-source", "delete-staging", "lock-staging"]
#: the runs whose job has a second target, which must not notice the first one's staging account lost
STAGING_RUNS: tuple[Run, ...] = ("staging", "locked", "locked-norole")

ARM_THROTTLED = "The server rejected the request because too many requests have been received for this subscription."
SERVER_BUSY = "The server is busy."
CANNOT_VERIFY = "Could not verify the copy source within the specified time."


@dataclass(frozen=True)
class FaultCase:
    id: str
    family: str
    #: emulator fault rules (``AdminClient.add_fault`` keywords; ``op`` first)
    rules: tuple[dict[str, Any], ...]
    #: ``succeeded`` or ``failed: <code>``
    expect: str
    #: the shared job it runs in; ``mixed`` and ``quota`` are in the default run
    run: Run = "more"
    source: Literal["vm", "image"] = "vm"
    action: Action | None = None
    #: emulator settings for the run (``disk_quota`` is filled in by the test)
    settings: dict[str, Any] = field(default_factory=dict)


def _http(op: str, target: str, status: int, code: str, message: str, count: int,
          retry_after: float | None = None) -> dict[str, Any]:
    return {"op": op, "kind": "http", "target": target, "status": status, "code": code, "message": message,
            "count": count, "retry_after": retry_after}


def _lro(op: str, target: str, code: str, message: str, count: int = 1) -> dict[str, Any]:
    return {"op": op, "kind": "lro", "target": target, "code": code, "message": message, "count": count}


def _copy(at: float, status: int, code: str, message: str, count: int = 1) -> dict[str, Any]:
    return {"op": "blob.CopyBlob", "kind": "copy", "target": "{blob}", "at_percent": at, "status": status,
            "code": code, "message": message, "count": count}


DISK_WRITE = "Microsoft.Compute/disks/write"
SNAPSHOT_WRITE = "Microsoft.Compute/snapshots/write"
GRANT = "Microsoft.Compute/snapshots/beginGetAccess/action"

CASES: tuple[FaultCase, ...] = (
    # -- throttling: 429 with Retry-After, however long the storm, is waited out ------------
    FaultCase("arm-429-storm-on-import", "throttling",
              (_http(DISK_WRITE, "{disk}", 429, "OperationNotAllowed", ARM_THROTTLED, 5, retry_after=1),),
              "succeeded", run="mixed"),
    FaultCase("arm-429-storm-on-grant", "throttling",
              (_http(GRANT, "{snapshot}/begingetaccess", 429, "SubscriptionRequestsThrottled",
                     "Number of requests for subscription exceeded the limit.", 4, retry_after=2),),
              "succeeded"),
    FaultCase("blob-503-storm-on-copy-blob", "throttling",
              (_http("blob.CopyBlob", "{blob}", 503, "ServerBusy", SERVER_BUSY, 4, retry_after=1),),
              "succeeded"),
    # -- 5xx bursts: retried ------------------------------------------------------------------
    FaultCase("arm-500-burst-on-snapshot", "5xx",
              (_http(SNAPSHOT_WRITE, "{snapshot}", 500, "InternalServerError",
                     "The server encountered an internal error.", 3),),
              "succeeded", run="mixed"),
    FaultCase("arm-503-burst-on-import", "5xx",
              (_http(DISK_WRITE, "{disk}", 503, "ServiceUnavailable", "The service is unavailable.", 3),),
              "succeeded"),
    # a look at a running copy is its target watcher's List Blobs of the staging container
    FaultCase("blob-500-burst-on-poll", "5xx",
              (_http("blob.ListBlobs", "{container}", 500, "InternalError",
                     "Server encountered an internal error. Please retry the request.", 3),),
              "succeeded"),
    # -- long-running operations that end Failed ---------------------------------------------
    FaultCase("snapshot-lro-fails", "lro",
              (_lro(SNAPSHOT_WRITE, "{snapshot}", "InternalDiskManagementError",
                    "An internal disk management error occurred."),),
              "failed: InternalDiskManagementError"),
    FaultCase("import-lro-fails", "lro",
              (_lro(DISK_WRITE, "{disk}", "InternalDiskManagementError",
                    "An internal disk management error occurred."),),
              "failed: InternalDiskManagementError", run="mixed"),
    FaultCase("image-lro-fails-transiently", "lro",
              (_lro("Microsoft.Compute/images/write", "{image}", "InternalExecutionError",
                    "An internal execution error occurred. Please retry later."),),
              "succeeded", source="image"),
    # -- copies that fail part-way -------------------------------------------------------------
    FaultCase("copy-500-at-30pct", "copy", (_copy(30, 500, "InternalError", "Server encountered an internal error."),),
              "succeeded"),
    FaultCase("copy-403-at-50pct", "copy", (_copy(50, 403, "CannotVerifyCopySource", CANNOT_VERIFY),),
              "succeeded", run="mixed"),
    FaultCase("copy-404-at-70pct", "copy", (_copy(70, 404, "CannotVerifyCopySource", CANNOT_VERIFY),),
              "succeeded"),
    FaultCase("copy-403-every-time", "copy", (_copy(50, 403, "CannotVerifyCopySource", CANNOT_VERIFY, count=-1),),
              "failed: CannotVerifyCopySource"),
    # -- what the job works on, gone ------------------------------------------------------------
    FaultCase("source-deleted-before-snapshot", "gone",
              (_http(SNAPSHOT_WRITE, "{snapshot}", 503, "ServerBusy", SERVER_BUSY, 10_000, retry_after=1),),
              "failed: ResourceNotFound", run="mixed", action="delete-source"),
    FaultCase("staging-account-deleted-mid-copy", "gone", (), "failed: StagingAccountNotFound", run="staging",
              action="delete-staging", settings={"copy_bandwidth": 256 * 1024}),
    # the fleet goes on with Microsoft Entra ID (its principal holds a blob data role on the account)
    FaultCase("staging-account-locked-mid-copy", "gone", (), "succeeded",
              run="locked", action="lock-staging", settings={"copy_bandwidth": 256 * 1024}),
    # ... and without one, the copies into that account fail, saying which role to grant
    FaultCase("staging-account-locked-no-data-role", "gone", (), "failed: AuthorizationPermissionMismatch",
              run="locked-norole", action="lock-staging",
              settings={"copy_bandwidth": 256 * 1024, "blob_data_role": False}),
    # -- quota ------------------------------------------------------------------------------------
    FaultCase("disk-quota-reached", "quota", (), "failed: OperationNotAllowed", run="quota"),
)

#: the runs of the default suite: one case of each family, cheap
DEFAULT_RUNS: tuple[Run, ...] = ("mixed", "quota")


def cases_of(run: Run) -> list[FaultCase]:
    return [c for c in CASES if c.run == run]


def vm_name(case: FaultCase) -> str:
    """Short (result names must stay within Azure's 80 characters), unique per case."""
    return f"fm{CASES.index(case):02d}"


def rules_for(case: FaultCase, rg: str, target_rg: str, os_disk: str) -> list[dict[str, Any]]:
    """The case's rules with their targets aimed at its own resources (``os_disk``: the
    source OS disk's name, which the default name template puts in the result's; job ids
    are not known before the submit, so they are wildcards)."""
    kind = SourceKind.image if case.source == "image" else SourceKind.vm
    key = naming.source_key(kind, rg, vm_name(case))
    places = {
        "snapshot": f"*/resourcegroups/{rg}/providers/microsoft.compute/snapshots/"
                    + naming.snapshot("JOB", key, "os").replace("JOB", "*"),
        "container": f"*/{naming.STAGING_CONTAINER}",
        "blob": "*/" + naming.staged_blob("JOB", key, naming.target_key(REGION, target_rg), "os").replace("JOB", "*"),
        "disk": f"*/resourcegroups/{target_rg}/providers/microsoft.compute/disks/{vm_name(case)}-{os_disk}-{REGION}",
        "image": f"*/resourcegroups/{target_rg}/providers/microsoft.compute/images/{vm_name(case)}-{REGION}",
    }
    return [{**rule, "target": rule["target"].format(**places).lower()} for rule in case.rules]
