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

# ensure_redis URL_VAR: exports $URL_VAR pointing at a Redis that answers. Uses the one
# configured (or 127.0.0.1:6379) when it answers; otherwise starts a private redis-server
# on a free loopback port (installing it from Debian's packages if needed) and records its
# pid in STARTED_PIDS.
STARTED_PIDS=()
ensure_redis() {
    local var="$1" url="${!1:-redis://127.0.0.1:6379/0}"
    if "$PY" - "$url" <<'PY' 2>/dev/null; then
import sys, redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=2).ping()
PY
        export "$var=$url"; return 0
    fi
    if ! command -v redis-server >/dev/null 2>&1; then
        log "installing redis-server"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null \
            || { log "could not install redis-server"; return 1; }
    fi
    local port dir
    port="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    dir="$(mktemp -d)"
    log "starting redis-server on 127.0.0.1:$port"
    redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$dir" \
        --daemonize no >"$dir/redis.log" 2>&1 &
    STARTED_PIDS+=("$!")
    for _ in $(seq 50); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    export "$var=redis://127.0.0.1:$port/0"
}

stop_started() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    STARTED_PIDS=()
}
