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
log "pytest"
"$VENV/bin/pytest" "$@"
