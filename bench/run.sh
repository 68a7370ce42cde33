#!/usr/bin/env bash
# `make bench`: load-tests the HTTP API on MariaDB and compares the task list with the same SQL run straight
# against the database. Steps: build release binaries, create a fresh database, migrate, seed one org
# (`taskforge admin seed-bench`), start `taskforge api`, drive list/get/create/patch with wrk, replay the list SQL
# with taskforge-rawquery, print a table and check the goals (docs/performance.md explains them).
#
# A missed goal is reported as MISS and does not fail the run; a broken run (build, seed, start-up, any non-2xx
# response or socket error) exits non-zero. The API is stopped and the database dropped on every exit.
#
# Knobs (environment): BENCH_MYSQL_URL (server, default $TASKFORGE_TEST_MYSQL_URL or mysql://root@127.0.0.1:3306),
# BENCH_DATABASE (taskforge_bench), BENCH_DURATION (15s per scenario), BENCH_CONNECTIONS (32), BENCH_THREADS (2),
# BENCH_USERS (50), BENCH_PROJECTS (10), BENCH_TASKS (100000), BENCH_KEEP_DB=1 to keep the database for a look.
set -euo pipefail

cd "$(dirname "$0")/.."

server_url=${BENCH_MYSQL_URL:-${TASKFORGE_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306}}
server_url=${server_url%/}
database=${BENCH_DATABASE:-taskforge_bench}
duration=${BENCH_DURATION:-15s}
connections=${BENCH_CONNECTIONS:-32}
threads=${BENCH_THREADS:-2}
users=${BENCH_USERS:-50}
projects=${BENCH_PROJECTS:-10}
tasks=${BENCH_TASKS:-100000}
target_dir=${CARGO_TARGET_DIR:-target}

log() { printf '\n== %s\n' "$*" >&2; }
die() {
    printf 'bench: %s\n' "$*" >&2
    exit 1
}

[[ $database =~ ^[A-Za-z0-9_]+$ ]] || die "BENCH_DATABASE must be letters, digits and underscores: $database"
[[ $duration =~ ^[0-9]+s$ ]] || die "BENCH_DURATION must be whole seconds such as 15s, got $duration"

# Debian's wrk (with LuaJIT) drives the load; jq reads the seed summary; the MariaDB client creates the database.
need_packages=()
command -v wrk >/dev/null 2>&1 || need_packages+=(wrk)
command -v jq >/dev/null 2>&1 || need_packages+=(jq)
command -v curl >/dev/null 2>&1 || need_packages+=(curl)
command -v mariadb >/dev/null 2>&1 || command -v mysql >/dev/null 2>&1 || need_packages+=(mariadb-client)
if ((${#need_packages[@]})); then
    log "installing ${need_packages[*]}"
    command -v apt-get >/dev/null 2>&1 || die "missing ${need_packages[*]} and no apt-get to install them"
    sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${need_packages[@]}" >/dev/null
fi
mysql_client=$(command -v mariadb || command -v mysql)

# mysql://USER[:PASSWORD]@HOST[:PORT] → client arguments.
[[ $server_url =~ ^(mysql|mariadb)://(([^:@/]+)(:([^@/]*))?@)?([^:/?]+)(:([0-9]+))?$ ]] ||
    die "BENCH_MYSQL_URL must look like mysql://user[:password]@host[:port], got $server_url"
db_user=${BASH_REMATCH[3]:-root}
db_password=${BASH_REMATCH[5]:-}
db_host=${BASH_REMATCH[6]}
db_port=${BASH_REMATCH[8]:-3306}
sql() {
    MYSQL_PWD=$db_password "$mysql_client" --protocol=TCP -h"$db_host" -P"$db_port" -u"$db_user" -e "$1"
}
sql "SELECT 1" >/dev/null 2>&1 ||
    die "MariaDB at $db_host:$db_port does not answer (start it with scripts/ensure-tools.sh, i.e. make tools)"

log "building release binaries (cold: about 10 minutes on 2 cores)"
cargo build --release -p taskforge -p taskforge-rawquery --bin taskforge --bin taskforge-rawquery
taskforge=$target_dir/release/taskforge
rawquery=$target_dir/release/taskforge-rawquery

work=$(mktemp -d -t taskforge-bench.XXXXXX)
api_pid=""
cleanup() {
    local status=$?
    if [[ -n $api_pid ]] && kill -0 "$api_pid" 2>/dev/null; then
        kill -TERM "$api_pid" 2>/dev/null || true
        wait "$api_pid" 2>/dev/null || true
    fi
    if [[ ${BENCH_KEEP_DB:-0} == 1 ]]; then
        printf 'bench: kept database %s\n' "$database" >&2
    else
        sql "DROP DATABASE IF EXISTS \`$database\`" || true
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export TASKFORGE_DATABASE_URL=$server_url/$database
export TASKFORGE_CONFIG=$work/no-config-file.toml
export TASKFORGE_DATA_DIR=$work/var
export TASKFORGE_LOG=warn
# One token sends every request: lift its per-minute quota far above what the machine can do.
export TASKFORGE_TOKEN_REQUESTS_PER_MINUTE=1000000000

log "creating database $database"
sql "DROP DATABASE IF EXISTS \`$database\`; CREATE DATABASE \`$database\` CHARACTER SET utf8mb4"
"$taskforge" migrate

log "seeding $users users, $projects projects, $tasks tasks"
"$taskforge" admin seed-bench --users "$users" --projects "$projects" --tasks "$tasks" >"$work/seed.json"
jq -r '"seeded in \(.seconds * 10 | round / 10) s: org \(.org_id)"' "$work/seed.json" >&2
# InnoDB refreshes index statistics in the background some time after a bulk load; until then the optimizer plans
# with the counts of a nearly empty table. A live database has current statistics, so refresh them now.
sql "ANALYZE TABLE \`$database\`.tasks, \`$database\`.task_assignees, \`$database\`.task_labels, \`$database\`.projects,
    \`$database\`.statuses, \`$database\`.memberships, \`$database\`.api_tokens" >/dev/null
export BENCH_TOKEN
BENCH_TOKEN=$(jq -r .token "$work/seed.json")
org=$(jq -r .org_id "$work/seed.json")

# Request paths per scenario. The list rotation (every user × every project with its Todo status, projects
# varying fastest) is the one taskforge-rawquery replays.
jq -r --arg org "$org" '.projects as $ps | .user_ids[] as $u | $ps[] |
    "/api/v1/orgs/\($org)/projects/\(.id)/tasks?status=\(.statuses.unstarted)&assignee=\($u)&limit=50"' \
    "$work/seed.json" >"$work/list.txt"
jq -r --arg org "$org" '.sample_task_ids[] | "/api/v1/orgs/\($org)/tasks/\(.)"' "$work/seed.json" >"$work/get.txt"
cp "$work/get.txt" "$work/patch.txt"
jq -r --arg org "$org" '.projects[] | "/api/v1/orgs/\($org)/projects/\(.id)/tasks"' "$work/seed.json" \
    >"$work/create.txt"

log "starting the API"
TASKFORGE_HTTP_ADDR=127.0.0.1:0 "$taskforge" api >"$work/api.out" 2>"$work/api.err" &
api_pid=$!
base=""
deadline=$((SECONDS + 30))
while [[ -z $base ]]; do
    kill -0 "$api_pid" 2>/dev/null || die "the API exited during start-up: $(cat "$work/api.err")"
    ((SECONDS < deadline)) || die "the API did not report its address within 30 s"
    base=$(sed -nE 's#^Taskforge is listening on (http://[0-9.:]+)$#\1#p' "$work/api.out")
    [[ -n $base ]] || sleep 0.1
done
until curl -fsS "$base/readyz" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$base/readyz did not answer within 30 s"
    sleep 0.1
done
log "API ready at $base"

# One RESULT line per scenario, from the wrk script's done() or from taskforge-rawquery, collected in $results.
results=$work/results.txt
: >"$results"
field() { sed -nE "s/.* $2=([^ ]+).*/\1/p" <<<"$1"; }
record() { # name, output file
    local line
    line=$(grep '^RESULT ' "$2") || die "$1 printed no RESULT line: $(cat "$2")"
    printf '%s\n' "$line" >&2
    [[ $(field "$line" non2xx) == 0 && $(field "$line" errors) == 0 ]] || die "$1 had failed requests: $line"
    printf '%s\n' "$line" >>"$results"
}
wrk_run() { # scenario, duration, output file
    wrk -t"$threads" -c"$connections" -d"$2" --latency -s bench/wrk/scenario.lua "$base" -- "$1" "$work/$1.txt" \
        >"$3" || die "wrk failed for $1: $(cat "$3")"
}

log "warming up (3 s of list and get, not recorded)"
wrk_run list 3s "$work/warm-list.out"
wrk_run get 3s "$work/warm-get.out"

# The API's list and its SQL replayed raw run back to back, so both see the same machine; writes come last so the
# reads run on the data as seeded.
seconds=${duration%s}
for scenario in list raw-main raw-page raw-request get create patch; do
    if [[ $scenario == raw-* ]]; then
        mode=${scenario#raw-}
        log "raw SQL ($mode): $connections connections, ${seconds}s"
        "$rawquery" --seed "$work/seed.json" --database-url "$TASKFORGE_DATABASE_URL" --concurrency "$connections" \
            --seconds "$seconds" --mode "$mode" >"$work/$scenario.out" || die "taskforge-rawquery --mode $mode failed"
    else
        log "scenario $scenario: $connections connections, $threads threads, $duration"
        wrk_run "$scenario" "$duration" "$work/$scenario.out"
    fi
    record "$scenario" "$work/$scenario.out"
done

value() { # scenario, key → the key's value on the scenario's RESULT line
    awk -v s="$1" -v k="$2" \
        '$2 == s { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$results"
}
list_rps=$(value list rps)
raw_rps=$(value raw-main rps)
page_rps=$(value raw-page rps)

echo
echo "Taskforge bench: $tasks tasks, $projects projects, $users users; $connections connections, $duration per scenario"
echo "$(nproc) cores shared by wrk, the API, MariaDB and anything else running here: compare runs made back to back"
printf '%-12s %12s %10s %10s %14s\n' scenario requests/s "p50 ms" "p99 ms" requests
while read -r _ name rest; do
    line="RESULT $name $rest"
    printf '%-12s %12s %10s %10s %14s\n' "$name" "$(field "$line" rps)" "$(field "$line" p50_ms)" \
        "$(field "$line" p99_ms)" "$(field "$line" requests)"
done <"$results"
ratio=$(awk -v a="$list_rps" -v b="$raw_rps" 'BEGIN { printf "%.2f", a / b }')
ratio_page=$(awk -v a="$list_rps" -v b="$page_rps" 'BEGIN { printf "%.2f", a / b }')
echo "list / raw-main = $ratio; list / raw-page = $ratio_page"

echo
echo "Goals:"
goal() { # name, condition (awk expression), measured
    if awk "BEGIN { exit !($2) }"; then
        printf '  PASS  %-40s (%s)\n' "$1" "$3"
    else
        printf '  MISS  %-40s (%s)\n' "$1" "$3"
    fi
}
goal "list >= 0.5x raw-main throughput" "$ratio >= 0.5" "$ratio x"
goal "list p99 <= 25 ms" "$(value list p99_ms) <= 25" "$(value list p99_ms) ms"
goal "get p99 <= 25 ms" "$(value get p99_ms) <= 25" "$(value get p99_ms) ms"
goal "creates >= 1000/s" "$(value create rps) >= 1000" "$(value create rps)/s"
