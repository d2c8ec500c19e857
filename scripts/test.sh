#!/usr/bin/env bash
# The whole test suite on a fresh clone: installs what it needs, starts what it needs
# (Redis when none answers; the local Azure, Azurite and celery workers are started by
# the tests themselves), lints, type-checks, tests, and stops what it started.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
trap stop_started EXIT

ensure_venv
ensure_redis DISKFERRY_TEST_REDIS_URL

log "ruff"
"$VENV/bin/ruff" check .
log "mypy"
"$VENV/bin/mypy"
log "pytest"
"$VENV/bin/pytest" "$@"
