"""The background copy of a Premium SSD v2 or Ultra disk's incremental snapshot.

Azure takes only incremental snapshots of those disks, and copies their data in the
background after the snapshot is made: until the copy ends the snapshot's
``snapshotAccessState`` is ``Pending`` ("cannot be used for restore, copy or download to
offline", the Compute API's own words) and ``completionPercent`` says how far it is; then
``Available``. The emulator keeps when the copy started and how long it takes, and works the
state out from the clock whenever the snapshot is read or used.
"""

from __future__ import annotations

import math

from diskferry.emulator import clock
from diskferry.emulator.compute.common import Doc
from diskferry.emulator.errors import AzureError, conflict

#: disk SKUs whose snapshots are incremental only, and copied in the background
BACKGROUND_COPIED = frozenset({"PremiumV2_LRS", "UltraSSD_LRS"})


def needed(source: Doc | None) -> bool:
    """Whether a snapshot of ``source`` is copied in the background (a disk of those SKUs)."""
    return (source is not None and source["x"]["kind"] == "disk"
            and (source.get("sku") or {}).get("name") in BACKGROUND_COPIED)


def full_snapshot_refused(source: Doc) -> AzureError:
    sku = source["sku"]["name"]
    return AzureError(400, "OperationNotAllowed",
                      f"Only incremental snapshots are supported for disk {source['name']} of type {sku}. "
                      "Create the snapshot with 'incremental' set to true.")


def begin(doc: Doc, seconds: float) -> None:
    """Start the background copy of a new snapshot (``seconds`` long)."""
    doc["x"]["background_copy"] = {"start": clock.now(), "seconds": seconds}
    refresh(doc)


def refresh(doc: Doc) -> Doc:
    """Bring ``snapshotAccessState`` and ``completionPercent`` up to the clock; ``doc``."""
    copy = doc.get("x", {}).get("background_copy")
    if copy is None:
        return doc
    props = doc["properties"]
    seconds = float(copy["seconds"])
    done = 1.0 if seconds <= 0 else min(1.0, (clock.now() - float(copy["start"])) / seconds)
    # rounded down: a copy still Pending never shows 100 (a rounded 99.96 did, and a status read
    # then said "100 %" of a snapshot that could not be exported yet)
    props["completionPercent"] = math.floor(1000.0 * done) / 10.0
    props["snapshotAccessState"] = "Available" if done >= 1.0 else "Pending"
    return doc


def pending_blocker(doc: Doc, use: str) -> AzureError | None:
    """Why a snapshot cannot be ``use``-d yet (export, copy, restore), or None."""
    if refresh(doc)["properties"].get("snapshotAccessState") != "Pending":
        return None
    return conflict(f"Snapshot {doc['name']} cannot be used for {use} while its background copy is in "
                    f"progress ({doc['properties']['completionPercent']:g} % complete). Wait until its "
                    "snapshotAccessState is 'Available'.")
