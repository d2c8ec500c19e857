"""The Celery configuration diskferry needs to be safe on Redis (see docs/azure-and-celery.md, Celery facts).

* ``task_acks_late`` + ``task_reject_on_worker_lost`` + prefetch 1: a task whose worker dies
  is delivered again, so every task is idempotent.
* The visibility timeout is set for the broker *and* the result backend, and every poll
  countdown stays well under it (``Settings`` checks), or held ETA messages are redelivered.
* ``result_expires`` outlives the longest chord, or the chord callback silently never runs.
* Polls live on their own queue and ``worker_eta_task_limit`` caps how many one worker holds;
  a worker takes from the two queues in turn (``QUEUE_ORDER``), so polls never starve prepares.
* ``result_extended`` stays off: it would store raw arguments (ours hold only ids anyway).
* ``task_track_started`` stays off, and a step that waits for Azure stores no RETRY state
  (``diskferry.tasks.replicate``): the result backend keeps final states, which the chords,
  the errback and the job's watchdog read; what a task is doing meanwhile is in the job record
  and, for Flower, in the task events. Stored, both were a write (and a publish) at every run
  of a step — a dozen per disk when Azure's operations take 30 s.
* Redis may restart under the fleet: the broker uses :mod:`diskferry.tasks.broker` (kombu's
  Redis transport, fixed so a worker outlives the restart and gives back what it held at
  once), and running tasks are *not* cancelled on connection loss — Celery's cancel path
  terminates pool processes and is where issues #7185 and #9250 crash; a task that keeps
  running while its message is given back runs twice, which idempotent tasks allow.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from diskferry.config.settings import WORKER_BEAT_SECONDS, Settings

#: task names, as Flower shows them
PREPARE = "diskferry.prepare"
COPY_DISK = "diskferry.copy_disk"
FINALIZE = "diskferry.finalize"
CLEANUP = "diskferry.cleanup"
WATCHDOG = "diskferry.watchdog"
FORGET = "diskferry.forget"
WATCH_COPIES = "diskferry.watch_copies"


#: how a dead worker's messages come back (kombu's Redis transport): once delivered more than
#: the visibility timeout ago, the next sweep of any worker (``restore_visible``) requeues
#: them. Workers sweep when they start and then every ``unacked_restore_interval`` seconds
#: times ``unacked_restore_throttle`` (kombu's defaults: 10 x 10 = 100 s): here every
#: 2 x 5 = 10 s, for one cheap ZRANGE per worker. The 2 s tick is also the beat of
#: ``diskferry.tasks.rescue``, which gives back a dead worker's messages far sooner: once it
#: has been silent for ``worker_lost_seconds``.
RESTORE = {"unacked_restore_interval": WORKER_BEAT_SECONDS, "unacked_restore_throttle": 5}
#: a worker takes from the copy queue and the poll queue in turn (kombu's round robin: after a
#: message from one, the other is asked first), so neither starves the other. Measured
#: (docs/benchmarks.md): taking the copy queue first ("priority") kept polls waiting behind
#: finalizes in a job's wind-down — detection lag p50 14 s, max 57 s at 200 disks
QUEUE_ORDER = {"queue_order_strategy": "round_robin"}
#: kombu's Redis transport with the reconnection fix (for redis:// and rediss:// brokers)
REDIS_TRANSPORT = "diskferry.tasks.broker:Transport"


def broker_transport(broker_url: str) -> str | None:
    """The transport for ``broker_url``: ours for Redis, kombu's choice for anything else."""
    return REDIS_TRANSPORT if urlsplit(broker_url).scheme in ("redis", "rediss") else None


def celery_config(settings: Settings) -> dict[str, Any]:
    visibility = {"visibility_timeout": settings.visibility_timeout}
    rescue = {"worker_lost_seconds": settings.worker_lost_seconds}
    return {
        "broker_url": settings.broker_url,
        "broker_transport": broker_transport(settings.broker_url),
        "result_backend": settings.result_backend,
        "broker_transport_options": visibility | RESTORE | rescue | QUEUE_ORDER,
        "result_backend_transport_options": dict(visibility),
        # a result stored while Redis restarts is retried (backing off to 10 s, ~5 min in all)
        # instead of failing a task whose work is done
        "result_backend_always_retry": True,
        "result_backend_max_retries": 40,
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        # a poll's message sits unacked in Redis for its whole countdown, its body carrying the
        # chord's signature: zlib halves what a copy in flight holds there (issue 8's budget of
        # 10 KiB of Redis per disk in flight)
        "task_compression": "zlib",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_concurrency": settings.concurrency,
        "worker_eta_task_limit": settings.eta_task_limit,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "result_expires": settings.result_expires_seconds,
        "result_extended": False,
        "task_track_started": False,
        "task_default_queue": settings.queue,
        "task_routes": {
            PREPARE: {"queue": settings.queue},
            COPY_DISK: {"queue": settings.queue},
            FINALIZE: {"queue": settings.queue},
            CLEANUP: {"queue": settings.queue},
            WATCHDOG: {"queue": settings.poll_queue},
            FORGET: {"queue": settings.poll_queue},
            WATCH_COPIES: {"queue": settings.poll_queue},
        },
        # errbacks go on prepare and finalize explicitly (see diskferry.tasks.canvas); this keeps
        # Celery's future default and silences its pending-deprecation warning
        "task_allow_error_cb_on_chord_header": True,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_hijack_root_logger": False,
    }
