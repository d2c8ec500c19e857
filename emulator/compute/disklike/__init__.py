"""What managed disks and snapshots share: create, update, delete, SAS grants, disk state.

A disk and a snapshot are the same thing to DiskRP — a content with a size, a SKU, a
``creationData`` and a ``diskState`` — and differ in the create options they accept and
in attachment (only disks attach to VMs). ``Flavor`` carries the differences;
``diskferry.emulator.compute.disks`` and ``diskferry.emulator.compute.snapshots`` each define one and route
its calls here.

Document (store kind ``disk`` or ``snapshot``, key = lower-cased ARM id): the ARM resource
plus private ``x``:

* ``data``: id of the content file (``emu.pages``); its size is ``diskSizeBytes``, or
  ``uploadSizeBytes`` (content + footer) while an ``Upload`` disk is being filled;
* ``footer_uid``, ``created``: what the exported VHD's footer is made of
  (``exports.footer_for``);
* ``upload``: ``"ready"`` / ``"active"`` during the Upload flow, else absent;
* ``sas``: the pseudo account of the active grant (``exports``), else absent;
* ``family``: a disk's incremental-snapshot family id.

Every effect runs in a named completion of ``Operations.begin``, so latency settings and
``lro`` fault rules apply, and operations pending at shutdown finish after a restart.
Creation copies the source's content at once (a snapshot is a point in time); a failed
create removes its placeholder and content, a failed update or grant changes nothing.

The modules: ``resource`` (the document, its state, deletion), ``properties`` (what a
request body may say), ``create``, ``update``, ``access`` (SAS grants) and ``routes``.
"""

from __future__ import annotations

from diskferry.emulator.compute.disklike.resource import Flavor, deletion_blocker, remove, save
from diskferry.emulator.compute.disklike.routes import register

__all__ = ["Flavor", "deletion_blocker", "register", "remove", "save"]
