"""The replication steps, in diskferry's words; the Celery tasks are thin shells around them.

* :mod:`.prepare` — per (source, target): freeze and export the source once (snapshots or
  deallocation, one read SAS per disk, shared by every target), then ready the target
  (resource group, staging account, container);
* :mod:`.copy` — per (source, target, disk): start Copy Blob (or a same-region disk Copy)
  and report progress until it ends; never waits;
* :mod:`.finalize` — per (source, target): import the staged VHDs, build the image;
* :mod:`.cleanup` — what a pair, a source and a staging account leave behind.
"""
