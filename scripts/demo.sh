#!/usr/bin/env bash
# The main job on a fresh machine: installs what it needs, starts Redis when none
# answers, then runs the demo (scripts/demo.py) on the local Azure, which starts and
# stops the emulator, two workers and Flower itself.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
trap stop_started EXIT

ensure_venv
DISKFERRY_DEMO_REDIS="${DISKFERRY_DEMO_REDIS:-redis://127.0.0.1:6379/0}"
ensure_redis DISKFERRY_DEMO_REDIS
"$PY" scripts/demo.py --redis "${DISKFERRY_DEMO_REDIS%/*}" "$@"
