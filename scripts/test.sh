#!/usr/bin/env bash
# The whole test suite on a fresh clone: installs what it needs (redis-server too, even
# when a Redis answers on 6379: the tests start their own, as they start the local Azure,
# Azurite and celery workers, and never touch a Redis they did not start), lints and
# type-checks, then tests.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv
ensure_redis_server

log "ruff"
"$VENV/bin/ruff" check .
log "mypy"
"$VENV/bin/mypy"
"$VENV/bin/mypy" scripts  # the benchmarks and the demo: how the targets are shown
log "pytest"
# Most of the suite waits (on celery workers, copies, countdowns), so a few test processes
# share the cores well; each has its own Redis, local Azure and Azurite, started on ports they
# bind themselves. A test file stays on one process (--dist loadfile: a file's module-scoped
# fixtures start once). DISKFERRY_TEST_PROCESSES=0 runs everything in this process; a later
# -n in the arguments wins too.
"$VENV/bin/pytest" -n "${DISKFERRY_TEST_PROCESSES:-3}" --dist loadfile "$@"
