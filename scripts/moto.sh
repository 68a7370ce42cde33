#!/usr/bin/env bash
# The moto server that stands in for SQS, SES, S3 and DynamoDB in tests and in `make run` with AWS adapters.
#   scripts/moto.sh start   start it unless something already answers on $TASKFORGE_TEST_AWS_URL; wait until ready
#   scripts/moto.sh stop    stop the server this script started
#   scripts/moto.sh reset   clear all of moto's state
# The default address is http://127.0.0.1:5055 ($TASKFORGE_TEST_AWS_URL); MOTO_URL names another server, such as the
# one the S3 tests use ($TASKFORGE_TEST_S3_URL, see scripts/ensure-tools.sh). The venv comes from ensure-tools.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

url=${MOTO_URL:-${TASKFORGE_TEST_AWS_URL:-http://127.0.0.1:5055}}
host=$(sed -E 's#^https?://([^:/]+).*#\1#' <<<"$url")
port=$(sed -nE 's#^https?://[^:/]+:([0-9]+).*#\1#p' <<<"$url")
port=${port:-80}
state_dir=${TMPDIR:-/tmp}/taskforge-moto-$port
pidfile=$state_dir/pid

log() { printf 'moto: %s\n' "$*"; }
die() { printf 'moto: error: %s\n' "$*" >&2; exit 1; }
up() { python3 - "$url" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/moto-api/config", timeout=2).read()
PY
}

case ${1:-start} in
start)
    if up; then
        exit 0
    fi
    [[ $host == 127.0.0.1 || $host == localhost ]] || die "nothing answers on $url and it is not local: start it there"
    [[ -x .venv-moto/bin/moto_server ]] || die ".venv-moto/bin/moto_server missing: run scripts/ensure-tools.sh"
    mkdir -p "$state_dir"
    log "starting moto on $url (log: $state_dir/moto.log)"
    # setsid: the server outlives the make invocation that started it, like the machine's other services.
    setsid .venv-moto/bin/moto_server -H "$host" -p "$port" >"$state_dir/moto.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    deadline=$((SECONDS + 60))
    until up; do
        if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            tail -20 "$state_dir/moto.log" >&2 || true
            die "moto exited during start-up"
        fi
        ((SECONDS < deadline)) || die "moto did not answer on $url within 60 s (see $state_dir/moto.log)"
        sleep 0.3
    done
    log "moto is up"
    ;;
stop)
    if [[ -f $pidfile ]]; then
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    fi
    ;;
reset)
    python3 - "$url" <<'PY'
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/moto-api/reset", method="POST"), timeout=5).read()
PY
    ;;
*)
    die "usage: scripts/moto.sh start|stop|reset"
    ;;
esac
