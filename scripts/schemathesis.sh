#!/usr/bin/env bash
# Property-based API testing: starts `taskforge serve --demo` on a free port with a throw-away data directory and
# runs schemathesis against its live /openapi.json, authenticated with the demo's API token. Fails on any server
# error (5xx) or any response that does not match the spec (status code, content type, body schema).
#
# Environment knobs:
#   SCHEMATHESIS_MAX_EXAMPLES  test cases per operation and phase (default 25: a few minutes on 2 cores)
#   SCHEMATHESIS_SEED          replay a run with the seed it printed
#   SCHEMATHESIS_ARGS          extra arguments passed through to `schemathesis run`
set -euo pipefail
cd "$(dirname "$0")/.."

repo=$PWD
target_dir=${CARGO_TARGET_DIR:-target}
schemathesis=$repo/.venv/bin/schemathesis
[[ -x $schemathesis ]] || { echo "schemathesis: $schemathesis missing; run scripts/ensure-tools.sh" >&2; exit 1; }

cargo build --quiet --bin taskforge
binary=$target_dir/debug/taskforge

work=$(mktemp -d -t taskforge-schemathesis.XXXXXX)
server_pid=
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# A free port from the kernel. Another process could take it before the server binds; then the server exits at
# once and the wait below reports it with the server's log.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port

# Everything the server reads comes from here, so a developer's taskforge.toml or TASKFORGE_* variables cannot
# change what is tested. The rate limits are lifted: schemathesis sends thousands of requests with one token and
# many logins from one IP, and a 429 would hide the behaviour under test.
env -u TASKFORGE_DATABASE_URL \
    TASKFORGE_CONFIG="$work/none.toml" \
    TASKFORGE_DATA_DIR="$work/data" \
    TASKFORGE_HTTP_ADDR="127.0.0.1:$port" \
    TASKFORGE_PUBLIC_URL="$base" \
    TASKFORGE_TOKEN_REQUESTS_PER_MINUTE=100000 \
    TASKFORGE_LOGIN_ATTEMPTS_PER_MINUTE=100000 \
    TASKFORGE_LOG="${TASKFORGE_LOG:-warn}" \
    "$binary" serve --demo >"$work/server.out" 2>"$work/server.err" &
server_pid=$!

server_failed() {
    echo "schemathesis: $1" >&2
    echo "--- server stdout ---" >&2
    cat "$work/server.out" >&2
    echo "--- server stderr (last 50 lines) ---" >&2
    tail -n 50 "$work/server.err" >&2
    exit 1
}

# Wait for the demo token and for /healthz, polling with a deadline (migrations and seeding take a moment).
token=
deadline=$((SECONDS + 60))
while :; do
    kill -0 "$server_pid" 2>/dev/null || server_failed "the server exited during start-up"
    if [[ -z $token ]]; then
        token=$(sed -n 's/^API token for scripts: \(tf_[A-Za-z0-9_-]*\)$/\1/p' "$work/server.out")
    fi
    if [[ -n $token ]] && curl -fsS -o /dev/null --max-time 2 "$base/healthz" 2>/dev/null; then
        break
    fi
    ((SECONDS < deadline)) || server_failed "no demo token and healthy /healthz within 60 s"
    sleep 0.2
done
echo "schemathesis: server up at $base (data in $work)"

# Phases: examples, coverage (boundary and negative values derived from the schema), fuzzing, and stateful
# (chains of calls linked through response fields). The bound on examples keeps the run to a few minutes.
#
# No operation is excluded. Those that could end the run's own authentication do not, with a bearer token:
#   - logout and token creation need a cookie session: a token gets 403 `session_required`;
#   - changePassword needs the current password, which is never generated; and it signs out sessions, not tokens;
#   - revokeToken takes an id; the demo token's id appears only in GET /me/tokens, so a stateful chain could
#     revoke it, after which every call answers 401, which the spec documents (a lost token shows up as a run of
#     401s, not as a false failure);
#   - deleteOrg / leaveOrg act on the org in the path: the demo org or one the run created; the demo owner is its
#     only owner, so leaving it is refused (409 last_owner), and deleting it leaves the token valid.
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
args=(
    run "$base/openapi.json"
    --url "$base/api/v1"
    --header "Authorization: Bearer $token"
    --checks "$checks"
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}"
    --workers 2
    --request-timeout 10
    --generation-database none
    --no-color
)
if [[ -n ${SCHEMATHESIS_SEED:-} ]]; then
    args+=(--seed "$SCHEMATHESIS_SEED")
fi
# Word splitting of the pass-through is intended.
# shellcheck disable=SC2206
args+=(${SCHEMATHESIS_ARGS:-})

status=0
(cd "$work" && "$schemathesis" "${args[@]}") || status=$?

if ! kill -0 "$server_pid" 2>/dev/null; then
    server_failed "the server died during the run"
fi
if ((status != 0)); then
    echo "schemathesis: failures found (exit $status); server errors are logged below" >&2
    grep -iE 'error|panic' "$work/server.err" | tail -n 30 >&2 || true
fi
exit "$status"
