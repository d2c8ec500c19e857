#!/usr/bin/env bash
# The reliability report (issue 9): runs the kill, fault and bad-input matrices — every case,
# the slow ones too — with each case's outcome recorded (DISKFERRY_RELIABILITY_LOG), then
# renders docs/reliability.md from what the run measured. A matrix is a test module that
# records its cases (calls record_case); extra arguments go to pytest. Exits with pytest's
# status: the page is written either way, and says which cases did not behave as documented.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv
ensure_redis_server

mapfile -t modules < <(grep -rl --include='test_*.py' 'record_case(' tests | grep -v '^tests/test_reliability' | sort)
cases="$(mktemp "${TMPDIR:-/tmp}/diskferry-reliability.XXXXXX")"
trap 'rm -f "$cases"' EXIT

log "matrices: ${modules[*]}"
status=0
# in test processes as the suite runs (scripts/test.sh); every process appends whole lines
DISKFERRY_RELIABILITY_LOG="$cases" "$VENV/bin/pytest" -n "${DISKFERRY_TEST_PROCESSES:-3}" --dist loadfile \
    -m "slow or not slow" "${modules[@]}" "$@" || status=$?
"$VENV/bin/python" -m tests.reliability_report "$cases" docs/reliability.md --pytest-exit "$status" \
    --command "./scripts/reliability.sh"
exit "$status"
