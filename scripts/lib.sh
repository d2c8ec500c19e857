# Shared by scripts/test.sh and scripts/demo.sh: everything a fresh machine needs.
# Sourced, not run. Creates .venv, installs the project with pinned versions, and finds
# (or starts) a Redis server. Whatever it starts is recorded so the caller can stop it.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

ensure_python() {
    local py
    for py in python3.13 python3.12 python3.11 python3; do
        # (pyenv shims exist for versions that are not selected: they fail, quietly here)
        if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$py"; return 0
        fi
    done
    echo "diskferry needs Python 3.11 or newer" >&2
    return 1
}

ensure_venv() {
    local stamp="$VENV/.installed"
    if [ ! -x "$PY" ]; then
        log "creating $VENV"
        "$(ensure_python)" -m venv "$VENV" || { log "python3-venv missing: apt-get install -y python3-venv"; return 1; }
    fi
    # reinstall only when the dependency files changed
    local want
    want="$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" 2>/dev/null | sha256sum | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        log "installing diskferry and its dependencies into .venv"
        "$PY" -m pip install --quiet --disable-pip-version-check -c "$ROOT/constraints.txt" -e "$ROOT[dev]" \
            2> >(grep -v 'WARNING: Location' >&2)
        echo "$want" > "$stamp"
    fi
}

# ensure_redis_server: makes sure the redis-server binary is installed (from Debian's
# packages), whether or not a Redis answers on 6379: the tests start their own and never
# use one they did not start (one on 6379 may hold a developer's data).
ensure_redis_server() {
    command -v redis-server >/dev/null 2>&1 && return 0
    log "installing redis-server"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null \
        || { log "could not install redis-server"; return 1; }
}

# start_redis URL_VAR: starts a private redis-server on loopback, records its pid in
# STARTED_PIDS and exports $URL_VAR (database 0). redis-server cannot listen on port 0, so a
# port below the ephemeral range is proposed and the server itself binds it; when another
# process holds it, the server says "Address already in use" and exits, and another port is
# tried. (Probing a port with a socket and releasing it leaves a window for another process.)
start_redis() {
    local var="$1" port dir attempt
    ensure_redis_server || return 1
    dir="$(mktemp -d)"
    for attempt in $(seq 20); do
        port=$((20000 + RANDOM % 12768))
        : > "$dir/redis.log"
        redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$dir" \
            --logfile "$dir/redis.log" --daemonize no </dev/null >/dev/null 2>&1 &
        local pid=$!
        for _ in $(seq 100); do
            grep -q "Ready to accept connections" "$dir/redis.log" && break
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        if grep -q "Ready to accept connections" "$dir/redis.log"; then
            STARTED_PIDS+=("$pid")
            log "started redis-server on 127.0.0.1:$port"
            export "$var=redis://127.0.0.1:$port/0"
            return 0
        fi
        kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
        grep -q "Address already in use" "$dir/redis.log" || { cat "$dir/redis.log" >&2; return 1; }
    done
    log "redis-server found no free port in $attempt attempts"; return 1
}

# ensure_redis URL_VAR: exports $URL_VAR pointing at a Redis that answers (for the demo).
# Uses the one configured (or 127.0.0.1:6379) when it answers; otherwise starts a private
# redis-server (start_redis).
STARTED_PIDS=()
ensure_redis() {
    local var="$1" url="${!1:-redis://127.0.0.1:6379/0}"
    if "$PY" - "$url" <<'PY' 2>/dev/null; then
import sys, redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=2).ping()
PY
        export "$var=$url"; return 0
    fi
    start_redis "$var"
}

stop_started() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    STARTED_PIDS=()
}
