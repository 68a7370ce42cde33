#!/bin/bash
# The scan Lambda container's entrypoint.
#   scan                  (default) pull the ClamAV definitions from $TASKFORGE_CLAMAV_DEFINITIONS into /tmp, start
#                         clamd on 127.0.0.1:3310, wait for PONG, then run the bootstrap against it.
#   refresh-definitions   the scheduled job: pull the current definitions (so freshclam downloads only the
#                         differences), run freshclam, push the result back to $TASKFORGE_CLAMAV_DEFINITIONS.
# Everything here is the Lambda init phase: a failure exits non-zero and Lambda reports an init error.
set -euo pipefail

runtime_dir=${LAMBDA_RUNTIME_DIR:-/var/runtime}
definitions=${TASKFORGE_CLAMAV_DEFINITIONS:?TASKFORGE_CLAMAV_DEFINITIONS must name the definitions, e.g. s3://bucket/clamav/}
# clamd's address and database directory come from its configuration, the one place that names them.
clamd_conf=${TASKFORGE_CLAMD_CONF:-/etc/taskforge/clamd.conf}
conf_value() {
    local key value _
    while read -r key value _; do
        if [[ $key == "$1" ]]; then
            printf '%s\n' "$value"
            return
        fi
    done <"$clamd_conf"
}
db=$(conf_value DatabaseDirectory)
clamd_addr=$(conf_value TCPAddr):$(conf_value TCPSocket)

log() { printf 'entrypoint: %s\n' "$*" >&2; }

clamd_answers() {
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || exit 1
        printf "zPING\0" >&3
        IFS= read -r -d "" reply <&3 || true
        [[ $reply == PONG ]]' _ "$clamd_addr" 2>/dev/null
}

case ${1:-scan} in
scan)
    "$runtime_dir/definitions" pull "$definitions" "$db"
    mkdir -p "$(conf_value TemporaryDirectory)"
    clamd -c "$clamd_conf" &
    clamd_pid=$!
    # Loading the full databases takes tens of seconds; past Lambda's 10 s init limit the init is retried within
    # the function timeout, so the deadline here is generous and the function timeout must cover it.
    deadline=$((SECONDS + ${TASKFORGE_CLAMD_START_SECONDS:-180}))
    until clamd_answers; do
        kill -0 "$clamd_pid" 2>/dev/null || { log "clamd exited while loading the definitions"; exit 1; }
        ((SECONDS < deadline)) || { log "clamd did not answer PONG on $clamd_addr in time"; exit 1; }
        sleep 0.5
    done
    log "clamd is up on $clamd_addr"
    export TASKFORGE_CLAMD_ADDR=$clamd_addr
    "$runtime_dir/bootstrap" &
    bootstrap_pid=$!
    # Whichever stops first ends the environment: a bootstrap without clamd would fail every scan until Lambda
    # recycled it, while an exit makes Lambda start a fresh one for the next event.
    wait -n "$clamd_pid" "$bootstrap_pid" || true
    log "clamd or the bootstrap stopped; ending this execution environment"
    kill "$clamd_pid" "$bootstrap_pid" 2>/dev/null || true
    exit 1
    ;;
refresh-definitions)
    mkdir -p "$db"
    if ! "$runtime_dir/definitions" pull "$definitions" "$db"; then
        log "no current definitions to start from: freshclam downloads everything"
    fi
    freshclam --config-file=/etc/taskforge/freshclam.conf --datadir="$db" --stdout
    "$runtime_dir/definitions" push "$db" "$definitions"
    ;;
*)
    log "unknown command '$1' (expected scan or refresh-definitions)"
    exit 2
    ;;
esac
