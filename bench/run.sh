#!/usr/bin/env bash
# `make bench`, or `bench/run.sh [http] [queue] [mail] [thumbs] [live]` for some sections only (default: all of them,
# in that order).
# docs/performance.md explains the method, the goals and the latest figures.
#
# http: load-tests the HTTP API on MariaDB and compares the task list with the same SQL run straight against the
# database. Steps: create a fresh database, migrate, seed one org (`taskforge admin seed-bench`), start
# `taskforge api`, drive list/get/create/patch with wrk, replay the list SQL with taskforge-rawquery, print a table
# and check the goals.
#
# queue: no-op job throughput of the database queue on MariaDB and on SQLite next to Celery 5 on the local Redis,
# in the same run and measured the same way: N jobs enqueued in batches first (the enqueue rate), then two worker
# processes started and the jobs left counted every 100 ms until none is (the drain rate, from the first finished
# job to the last, so start-up is left out on both sides). The Celery reference is bench/celery/ (a no-op task and
# an enqueue driver), installed pinned into bench/.venv.
#
# mail: end-to-end latency from a task assignment to its email in `taskforge serve` with the embedded defaults
# (SQLite, database queue, outbox mail): bench/mail/latency.py creates tasks assigned to a second user through the
# API, at a steady rate and then in a burst, and times each one from the start of its request until its .eml is in
# {data_dir}/outbox (create → outbox row → relay → publish_event → notify → mail file).
#
# thumbs: the image worker's thumbnail path (workers::images::render through bench/thumbs) next to libvips'
# vipsthumbnail on the same photo-like 12 MP JPEG and PNG files generated for the run, same bounding box, JPEG Q82
# without metadata, each pinned to one core (taskset; VIPS_CONCURRENCY=1), alternating run by run. Each run is one
# process over all files of a format, timed from outside (start-up and file I/O count on both sides) with its peak
# RSS from /usr/bin/time. The median of the rounds is reported.
#
# live: live-update delivery on one `taskforge api` process with a separate `taskforge worker --pool notifications`,
# on MariaDB and the Redis bus: bench/live (taskforge-livebench) opens BENCH_LIVE_CLIENTS SSE streams on one project,
# then renames a task BENCH_LIVE_WRITES times at BENCH_LIVE_RATE per second and times every rename from the start of
# its PATCH to its arrival on each stream. The same run with one client is the reference.
#
# A missed goal is reported as MISS and does not fail the run; a broken run (build, seed, start-up, any non-2xx
# response or socket error, a worker that dies, a job that fails or runs twice, a deadline) exits non-zero. The
# processes started here are stopped, and the databases and Redis keys made here removed, on every exit.
#
# Knobs (environment): BENCH_MYSQL_URL (server, default $TASKFORGE_TEST_MYSQL_URL or mysql://root@127.0.0.1:3306),
# BENCH_KEEP_DB=1 to keep the MariaDB databases for a look.
#   http: BENCH_DATABASE (taskforge_bench), BENCH_DURATION (15s per scenario), BENCH_CONNECTIONS (32),
#   BENCH_THREADS (2), BENCH_API_DB_CONNECTIONS (8, the API's MariaDB pool), BENCH_USERS (50), BENCH_PROJECTS (10),
#   BENCH_TASKS (100000), BENCH_EVENTS (1000000 activity events over the last year, for the analytics scenarios).
#   queue: BENCH_QUEUE_JOBS (30000), BENCH_QUEUE_BATCH (500 per enqueue), BENCH_QUEUE_CONCURRENCY (jobs at once per
#   `taskforge worker`: 64; empty for the pool's own 16), BENCH_QUEUE_DATABASE (taskforge_bench_queue), BENCH_QUEUE_DEADLINE
#   (300 s per drain), BENCH_REDIS_URL (redis://127.0.0.1:6379/15), BENCH_CELERY_POOL (solo),
#   BENCH_CELERY_CONCURRENCY (1 per worker), BENCH_CELERY_PREFETCH (256, the prefetch multiplier).
#   mail: BENCH_MAIL_TASKS (300 in the steady scenario), BENCH_MAIL_RATE (20 tasks/s), BENCH_MAIL_BURST (100 tasks
#   from 8 concurrent clients; 0 for none), BENCH_MAIL_DEADLINE (60 s for every email to arrive).
#   live: BENCH_LIVE_CLIENTS (1000), BENCH_LIVE_WRITES (100), BENCH_LIVE_RATE (10 renames/s), BENCH_LIVE_DATABASE
#   (taskforge_bench_live).
#   thumbs: BENCH_THUMBS_COUNT (4 photos per format), BENCH_THUMBS_WIDTH x BENCH_THUMBS_HEIGHT (4000 x 3000),
#   BENCH_THUMBS_SIZE (1024 px box), BENCH_THUMBS_ROUNDS (5), BENCH_THUMBS_CPU (1, the core both are pinned to).
set -euo pipefail

cd "$(dirname "$0")/.."

sections=("$@")
((${#sections[@]})) || sections=(http queue mail thumbs live)
for section in "${sections[@]}"; do
    [[ $section == http || $section == queue || $section == mail || $section == thumbs || $section == live ]] || {
        printf 'bench: unknown section %s; expected http, queue, mail, thumbs and/or live\n' "$section" >&2
        exit 2
    }
done
selected() { [[ " ${sections[*]} " == *" $1 "* ]]; }

server_url=${BENCH_MYSQL_URL:-${TASKFORGE_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306}}
server_url=${server_url%/}
database=${BENCH_DATABASE:-taskforge_bench}
duration=${BENCH_DURATION:-15s}
connections=${BENCH_CONNECTIONS:-32}
threads=${BENCH_THREADS:-2}
api_db_connections=${BENCH_API_DB_CONNECTIONS:-8}
users=${BENCH_USERS:-50}
projects=${BENCH_PROJECTS:-10}
tasks=${BENCH_TASKS:-100000}
events=${BENCH_EVENTS:-1000000}
queue_jobs=${BENCH_QUEUE_JOBS:-30000}
queue_batch=${BENCH_QUEUE_BATCH:-500}
queue_concurrency=${BENCH_QUEUE_CONCURRENCY-64}
queue_database=${BENCH_QUEUE_DATABASE:-taskforge_bench_queue}
queue_deadline=${BENCH_QUEUE_DEADLINE:-300}
redis_url=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/15}
celery_pool=${BENCH_CELERY_POOL:-solo}
celery_concurrency=${BENCH_CELERY_CONCURRENCY:-1}
celery_prefetch=${BENCH_CELERY_PREFETCH:-256}
mail_tasks=${BENCH_MAIL_TASKS:-300}
mail_rate=${BENCH_MAIL_RATE:-20}
mail_burst=${BENCH_MAIL_BURST:-100}
mail_deadline=${BENCH_MAIL_DEADLINE:-60}
thumbs_count=${BENCH_THUMBS_COUNT:-4}
thumbs_width=${BENCH_THUMBS_WIDTH:-4000}
thumbs_height=${BENCH_THUMBS_HEIGHT:-3000}
thumbs_size=${BENCH_THUMBS_SIZE:-1024}
thumbs_rounds=${BENCH_THUMBS_ROUNDS:-5}
thumbs_cpu=${BENCH_THUMBS_CPU:-1}
live_clients=${BENCH_LIVE_CLIENTS:-1000}
live_writes=${BENCH_LIVE_WRITES:-100}
live_rate=${BENCH_LIVE_RATE:-10}
live_database=${BENCH_LIVE_DATABASE:-taskforge_bench_live}
target_dir=${CARGO_TARGET_DIR:-target}

log() { printf '\n== %s\n' "$*" >&2; }
die() {
    printf 'bench: %s\n' "$*" >&2
    exit 1
}

[[ $database =~ ^[A-Za-z0-9_]+$ ]] || die "BENCH_DATABASE must be letters, digits and underscores: $database"
[[ $live_database =~ ^[A-Za-z0-9_]+$ ]] || die "BENCH_LIVE_DATABASE must be letters, digits and underscores"
[[ $queue_database =~ ^[A-Za-z0-9_]+$ ]] ||
    die "BENCH_QUEUE_DATABASE must be letters, digits and underscores: $queue_database"
[[ $duration =~ ^[0-9]+s$ ]] || die "BENCH_DURATION must be whole seconds such as 15s, got $duration"
for knob in api_db_connections queue_jobs queue_batch queue_deadline celery_concurrency celery_prefetch mail_tasks mail_rate mail_deadline \
    thumbs_count thumbs_width thumbs_height thumbs_size thumbs_rounds live_clients live_writes live_rate; do
    [[ ${!knob} =~ ^[1-9][0-9]*$ ]] || die "${knob^^} must be a positive whole number, got ${!knob}"
done
[[ -z $queue_concurrency || $queue_concurrency =~ ^[1-9][0-9]*$ ]] ||
    die "BENCH_QUEUE_CONCURRENCY must be a positive whole number, got $queue_concurrency"
[[ $celery_pool =~ ^(solo|threads|prefork)$ ]] || die "BENCH_CELERY_POOL must be solo, threads or prefork"
[[ $mail_burst =~ ^[0-9]+$ ]] || die "BENCH_MAIL_BURST must be a whole number, got $mail_burst"
[[ $thumbs_cpu =~ ^[0-9]+$ ]] || die "BENCH_THUMBS_CPU must be a core number, got $thumbs_cpu"

# Debian packages: wrk (with LuaJIT) drives the HTTP load; jq reads JSON summaries; the MariaDB client creates the
# databases; sqlite3, redis-cli and python3-venv count and run the queue benchmark; libvips-tools brings
# vipsthumbnail and time /usr/bin/time.
need_packages=()
uses_mariadb=0
if selected http || selected queue || selected live; then
    uses_mariadb=1
    command -v jq >/dev/null 2>&1 || need_packages+=(jq)
    command -v mariadb >/dev/null 2>&1 || command -v mysql >/dev/null 2>&1 || need_packages+=(mariadb-client)
fi
if selected http; then
    command -v wrk >/dev/null 2>&1 || need_packages+=(wrk)
    command -v curl >/dev/null 2>&1 || need_packages+=(curl)
fi
if selected queue; then
    command -v sqlite3 >/dev/null 2>&1 || need_packages+=(sqlite3)
    command -v redis-cli >/dev/null 2>&1 || need_packages+=(redis-tools)
    python3 -m venv --help >/dev/null 2>&1 || need_packages+=(python3-venv)
fi
if selected mail; then
    command -v python3 >/dev/null 2>&1 || need_packages+=(python3)
    command -v curl >/dev/null 2>&1 || need_packages+=(curl)
fi
if selected live; then
    command -v curl >/dev/null 2>&1 || need_packages+=(curl)
    command -v redis-cli >/dev/null 2>&1 || need_packages+=(redis-tools)
fi
if selected thumbs; then
    command -v vipsthumbnail >/dev/null 2>&1 || need_packages+=(libvips-tools)
    [[ -x /usr/bin/time ]] || need_packages+=(time)
    command -v taskset >/dev/null 2>&1 || need_packages+=(util-linux)
fi
if ((${#need_packages[@]})); then
    log "installing ${need_packages[*]}"
    command -v apt-get >/dev/null 2>&1 || die "missing ${need_packages[*]} and no apt-get to install them"
    sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${need_packages[@]}" >/dev/null
fi
# MariaDB serves the http and queue sections only.
if ((uses_mariadb)); then
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
    # One value, no column header.
    sql_value() {
        MYSQL_PWD=$db_password "$mysql_client" --protocol=TCP -h"$db_host" -P"$db_port" -u"$db_user" -N -B -e "$1"
    }
    sql "SELECT 1" >/dev/null 2>&1 ||
        die "MariaDB at $db_host:$db_port does not answer (start it with scripts/ensure-tools.sh, i.e. make tools)"
fi
if selected queue || selected live; then
    [[ $(redis-cli -u "$redis_url" --no-auth-warning PING 2>/dev/null) == PONG ]] ||
        die "Redis at $redis_url does not answer (BENCH_REDIS_URL)"
fi

binaries=()
packages=()
if selected http || selected queue || selected mail || selected live; then
    binaries+=(--bin taskforge)
    packages+=(-p taskforge)
fi
if selected http; then
    binaries+=(--bin taskforge-rawquery)
    packages+=(-p taskforge-rawquery)
fi
if selected thumbs; then
    binaries+=(--bin taskforge-thumbs)
    packages+=(-p taskforge-thumbs)
fi
if selected live; then
    binaries+=(--bin taskforge-livebench)
    packages+=(-p taskforge-livebench)
fi
log "building release binaries (cold: about 10 minutes on 2 cores)"
cargo build --release "${packages[@]}" "${binaries[@]}"
taskforge=$target_dir/release/taskforge
rawquery=$target_dir/release/taskforge-rawquery
thumbs=$target_dir/release/taskforge-thumbs
livebench=$target_dir/release/taskforge-livebench

work=$(mktemp -d -t taskforge-bench.XXXXXX)
# What cleanup undoes: background processes, MariaDB databases, Redis keys.
started_pids=()
made_databases=()
made_redis_keys=()
# Stops one background process: SIGTERM, up to 30 s to drain, then SIGKILL. Returns its exit status.
stop_process() {
    local pid=$1 waited=0 status=0
    kill -0 "$pid" 2>/dev/null || {
        wait "$pid" 2>/dev/null || status=$?
        return "$status"
    }
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && ((waited < 300)); do
        sleep 0.1
        waited=$((waited + 1))
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || status=$?
    return "$status"
}
drop_database() {
    if [[ ${BENCH_KEEP_DB:-0} == 1 ]]; then
        printf 'bench: kept database %s\n' "$1" >&2
    else
        sql "DROP DATABASE IF EXISTS \`$1\`" || true
    fi
}
cleanup() {
    local status=$? pid db
    for pid in "${started_pids[@]}"; do
        stop_process "$pid" || true
    done
    for db in "${made_databases[@]}"; do
        drop_database "$db"
    done
    if ((${#made_redis_keys[@]})); then
        redis-cli -u "$redis_url" --no-auth-warning DEL "${made_redis_keys[@]}" >/dev/null || true
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export TASKFORGE_CONFIG=$work/no-config-file.toml
export TASKFORGE_DATA_DIR=$work/var
export TASKFORGE_LOG=warn

goal() { # name, condition (awk expression), measured
    if awk "BEGIN { exit !($2) }"; then
        printf '  PASS  %-40s (%s)\n' "$1" "$3"
    else
        printf '  MISS  %-40s (%s)\n' "$1" "$3"
    fi
}

# Starts `taskforge SUBCOMMAND` on a free port, its output in $work/LABEL.out/.err, and waits until /readyz answers.
# Sets server_pid and base (http://host:port).
start_server() { # label, subcommand
    local label=$1 deadline=$((SECONDS + 30))
    TASKFORGE_HTTP_ADDR=127.0.0.1:0 "$taskforge" "$2" >"$work/$label.out" 2>"$work/$label.err" &
    server_pid=$!
    started_pids+=("$server_pid")
    base=""
    while [[ -z $base ]]; do
        kill -0 "$server_pid" 2>/dev/null || die "taskforge $2 exited during start-up: $(cat "$work/$label.err")"
        ((SECONDS < deadline)) || die "taskforge $2 did not report its address within 30 s"
        base=$(sed -nE 's#^Taskforge is listening on (http://[0-9.:]+)$#\1#p' "$work/$label.out")
        [[ -n $base ]] || sleep 0.1
    done
    until curl -fsS "$base/readyz" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "$base/readyz did not answer within 30 s"
        sleep 0.1
    done
}

run_http() {
    export TASKFORGE_DATABASE_URL=$server_url/$database
    # One token sends every request: lift its per-minute quota far above what the machine can do.
    export TASKFORGE_TOKEN_REQUESTS_PER_MINUTE=1000000000
    # The API's MariaDB pool, sized to the database's cores rather than to the client connections
    # (docs/operations.md, "Database pool").
    export TASKFORGE_DATABASE_MAX_CONNECTIONS=$api_db_connections

    log "creating database $database"
    made_databases+=("$database")
    sql "DROP DATABASE IF EXISTS \`$database\`; CREATE DATABASE \`$database\` CHARACTER SET utf8mb4"
    "$taskforge" migrate

    log "seeding $users users, $projects projects, $tasks tasks, $events events"
    "$taskforge" admin seed-bench --users "$users" --projects "$projects" --tasks "$tasks" --events "$events" \
        >"$work/seed.json"
    jq -r '"seeded in \(.seconds * 10 | round / 10) s: org \(.org_id)"' "$work/seed.json" >&2
    # InnoDB refreshes index statistics in the background some time after a bulk load; until then the optimizer plans
    # with the counts of a nearly empty table. A live database has current statistics, so refresh them now.
    sql "ANALYZE TABLE \`$database\`.tasks, \`$database\`.task_assignees, \`$database\`.task_labels, \`$database\`.projects,
        \`$database\`.statuses, \`$database\`.memberships, \`$database\`.api_tokens,
        \`$database\`.activity_events, \`$database\`.activity_counters" >/dev/null
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
    # Analytics over the last 90 days: the org's dashboard, and each project's.
    local today from
    today=$(date -u +%F)
    from=$(date -u -d '89 days ago' +%F)
    echo "/api/v1/orgs/$org/analytics?from=$from&to=$today" >"$work/analytics-org.txt"
    jq -r --arg org "$org" --arg q "from=$from&to=$today" \
        '.projects[] | "/api/v1/orgs/\($org)/projects/\(.id)/analytics?\($q)"' "$work/seed.json" >"$work/analytics-project.txt"

    log "starting the API"
    start_server api api
    api_pid=$server_pid
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
    for scenario in list raw-main get analytics-org analytics-project create patch; do
        if [[ $scenario == raw-main ]]; then
            log "raw SQL of the list: $connections connections, ${seconds}s"
            "$rawquery" --seed "$work/seed.json" --database-url "$TASKFORGE_DATABASE_URL" --concurrency "$connections" \
                --seconds "$seconds" >"$work/$scenario.out" || die "taskforge-rawquery failed"
        else
            if [[ $scenario == analytics-* ]]; then
                # Each report computed once before the timed run, as on a dashboard opened since the org last
                # changed: this scenario times cached reads, and the -uncached ones below time the computation.
                while read -r path; do
                    curl -fsS -o /dev/null -H "Authorization: Bearer $BENCH_TOKEN" "$base$path" ||
                        die "computing the report $path failed"
                done <"$work/$scenario.txt"
            fi
            log "scenario $scenario: $connections connections, $threads threads, $duration"
            wrk_run "$scenario" "$duration" "$work/$scenario.out"
        fi
        record "$scenario" "$work/$scenario.out"
    done
    stop_process "$api_pid" || die "the API did not stop cleanly: $(cat "$work/api.err")"

    # The analytics scenarios above read reports from the cache once the first request of each has computed them, as
    # a dashboard does between changes. What a report costs when it is not cached (the first read after a change of
    # the org) is measured on a second API process with the cache off, one connection at a time, so the figure is
    # the report's own latency rather than a queue.
    log "starting an API with TASKFORGE_CACHE=none for the uncached analytics"
    TASKFORGE_CACHE=none start_server api-uncached api
    local uncached_pid=$server_pid
    for scenario in analytics-org analytics-project; do
        cp "$work/$scenario.txt" "$work/$scenario-uncached.txt"
        log "scenario $scenario-uncached: 1 connection, $duration"
        wrk -t1 -c1 -d"$duration" --timeout 10s --latency -s bench/wrk/scenario.lua "$base" -- "$scenario-uncached" \
            "$work/$scenario-uncached.txt" >"$work/$scenario-uncached.out" ||
            die "wrk failed for $scenario-uncached: $(cat "$work/$scenario-uncached.out")"
        record "$scenario-uncached" "$work/$scenario-uncached.out"
    done
    stop_process "$uncached_pid" || die "the uncached API did not stop cleanly: $(cat "$work/api-uncached.err")"

    value() { # scenario, key → the key's value on the scenario's RESULT line
        awk -v s="$1" -v k="$2" \
            '$2 == s { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$results"
    }
    list_rps=$(value list rps)
    raw_rps=$(value raw-main rps)

    echo
    echo "Taskforge bench: $tasks tasks, $projects projects, $users users; $connections connections, $duration per scenario;" \
        "the API's database pool: $api_db_connections connections"
    echo "$(nproc) cores shared by wrk, the API, MariaDB and anything else running here: compare runs made back to back"
    printf '%-27s %12s %10s %10s %14s\n' scenario requests/s "p50 ms" "p99 ms" requests
    while read -r _ name rest; do
        line="RESULT $name $rest"
        printf '%-27s %12s %10s %10s %14s\n' "$name" "$(field "$line" rps)" "$(field "$line" p50_ms)" \
            "$(field "$line" p99_ms)" "$(field "$line" requests)"
    done <"$results"
    ratio=$(awk -v a="$list_rps" -v b="$raw_rps" 'BEGIN { printf "%.3f", a / b }')
    echo "list / raw-main = $ratio"
    echo "analytics p99 / get p99: org $(awk -v a="$(value analytics-org p99_ms)" -v b="$(value get p99_ms)" \
        'BEGIN { printf "%.1f", a / b }') x, project $(awk -v a="$(value analytics-project p99_ms)" \
        -v b="$(value get p99_ms)" 'BEGIN { printf "%.1f", a / b }') x"

    echo
    echo "Goals:"
    # On the unrounded ratio: rounded to two places, 0.4996 once passed as 0.50.
    goal "list >= 0.5x raw-main throughput" "$list_rps / $raw_rps >= 0.5" "$ratio x"
    goal "list p99 <= 25 ms" "$(value list p99_ms) <= 25" "$(value list p99_ms) ms"
    goal "get p99 <= 25 ms" "$(value get p99_ms) <= 25" "$(value get p99_ms) ms"
    goal "creates >= 1000/s" "$(value create rps) >= 1000" "$(value create rps)/s"
    goal "analytics-org p99 < 50 ms" "$(value analytics-org p99_ms) < 50" "$(value analytics-org p99_ms) ms"
    goal "analytics-project p99 < 50 ms" "$(value analytics-project p99_ms) < 50" "$(value analytics-project p99_ms) ms"

}

# Counts every 100 ms how many jobs are left (the command given prints it) until none is, within
# $queue_deadline s, while every process in $worker_pids stays up. Sets drain_rate: jobs/s from the first look that
# saw a job finished to the last job, so worker start-up (a Celery worker takes seconds, taskforge milliseconds) is
# left out on both sides; drain_seconds: that window; wall_seconds: from the call (the workers' start) to the end.
measure_drain() { # label, command...
    local label=$1 started=$EPOCHREALTIME first="" first_left=0 left now pid
    shift
    while :; do
        left=$("$@") || die "$label: counting the jobs left failed"
        [[ $left =~ ^-?[0-9]+$ ]] || die "$label: the count of jobs left is not a number: $left"
        now=$EPOCHREALTIME
        ((left >= 0)) || die "$label: $((queue_jobs - left)) jobs finished out of $queue_jobs: some ran twice"
        if [[ -z $first ]] && ((left < queue_jobs)); then
            first=$now
            first_left=$left
        fi
        ((left == 0)) && break
        for pid in "${worker_pids[@]}"; do
            kill -0 "$pid" 2>/dev/null || die "$label: worker $pid exited with $left jobs left (logs: $work/$label-*)"
        done
        awk -v a="$started" -v b="$now" -v d="$queue_deadline" 'BEGIN { exit !(b - a > d) }' &&
            die "$label: $left of $queue_jobs jobs still left after ${queue_deadline} s (BENCH_QUEUE_DEADLINE)"
        sleep 0.1
    done
    ((first_left > 0)) ||
        die "$label: all $queue_jobs jobs finished between two looks; raise BENCH_QUEUE_JOBS for a measurable drain"
    drain_seconds=$(awk -v a="$first" -v b="$now" 'BEGIN { printf "%.2f", b - a }')
    drain_rate=$(awk -v a="$first" -v b="$now" -v n="$first_left" 'BEGIN { printf "%.0f", n / (b - a) }')
    wall_seconds=$(awk -v a="$started" -v b="$now" 'BEGIN { printf "%.2f", b - a }')
}

# One line per backend: name enqueue_rate drain_rate drain_seconds wall_seconds.
queue_results=""
queue_record() { # name, enqueue JSON file
    local enqueue_rate
    enqueue_rate=$(jq -r '.jobs_per_second | round' "$2") || die "$1: the enqueue printed no rate: $(cat "$2")"
    printf '%s: enqueue %s jobs/s, drain %s jobs/s (%s s; %s s from the workers'"'"' start)\n' \
        "$1" "$enqueue_rate" "$drain_rate" "$drain_seconds" "$wall_seconds" >&2
    queue_results+="$1 $enqueue_rate $drain_rate $drain_seconds $wall_seconds"$'\n'
}

# The database queue: enqueue, then two `taskforge worker --pool notifications` processes drain it.
queue_taskforge() { # label, database URL, command that prints the jobs left
    local label=$1 url=$2 pid left failed
    shift 2
    log "$label: migrating, enqueueing $queue_jobs no-op jobs in batches of $queue_batch"
    TASKFORGE_DATABASE_URL=$url "$taskforge" migrate
    TASKFORGE_DATABASE_URL=$url "$taskforge" jobs enqueue-noop --count "$queue_jobs" --batch "$queue_batch" \
        >"$work/$label-enqueue.json" || die "$label: enqueueing failed"
    left=$("$@")
    [[ $left == "$queue_jobs" ]] || die "$label: $left jobs in the queue after enqueueing $queue_jobs"

    log "$label: two workers${queue_concurrency:+ at concurrency $queue_concurrency} draining the queue"
    local concurrency=()
    [[ -z $queue_concurrency ]] || concurrency=(--concurrency "$queue_concurrency")
    worker_pids=()
    for n in 1 2; do
        TASKFORGE_DATABASE_URL=$url "$taskforge" worker --pool notifications "${concurrency[@]}" \
            >"$work/$label-worker$n.log" 2>&1 &
        started_pids+=($!)
        worker_pids+=($!)
    done
    measure_drain "$label" "$@"
    for pid in "${worker_pids[@]}"; do
        stop_process "$pid" || die "$label: worker $pid did not stop cleanly: $(tail -5 "$work/$label-worker"*.log)"
    done
    failed=$(TASKFORGE_DATABASE_URL=$url "$taskforge" jobs stats | awk '$1 == "notifications" { print $5 }')
    [[ $failed == 0 ]] || die "$label: $failed jobs were dead-lettered"
    queue_record "$label" "$work/$label-enqueue.json"
}

# Celery's virtualenv, (re)installed when bench/celery/requirements.txt changes.
celery_venv=bench/.venv
ensure_celery_venv() {
    local stamp=$celery_venv/.requirements.sha256 wanted
    wanted=$(sha256sum bench/celery/requirements.txt | cut -d' ' -f1)
    if [[ -x $celery_venv/bin/celery && $(cat "$stamp" 2>/dev/null) == "$wanted" ]]; then
        return
    fi
    log "installing Celery into $celery_venv (bench/celery/requirements.txt)"
    python3 -m venv "$celery_venv"
    "$celery_venv/bin/pip" install --quiet --disable-pip-version-check -r bench/celery/requirements.txt
    printf '%s\n' "$wanted" >"$stamp"
}

# Celery on Redis: the same jobs, the same batches, two worker processes.
queue_celery() {
    local label=celery pid left
    ensure_celery_venv
    # A queue and counter of this run only, so nothing else on this Redis is read or removed.
    local suffix
    suffix=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
    export BENCH_CELERY_BROKER=$redis_url BENCH_CELERY_QUEUE=taskforge-bench-$suffix
    export BENCH_CELERY_COUNTER=$BENCH_CELERY_QUEUE:done BENCH_CELERY_PREFETCH=$celery_prefetch
    made_redis_keys+=("$BENCH_CELERY_QUEUE" "$BENCH_CELERY_COUNTER" "_kombu.binding.$BENCH_CELERY_QUEUE"
        "_kombu.binding_permanent.$BENCH_CELERY_QUEUE")
    celery_left() {
        local done
        done=$(redis-cli -u "$redis_url" --no-auth-warning GET "$BENCH_CELERY_COUNTER") || return 1
        printf '%s\n' $((queue_jobs - ${done:-0}))
    }

    log "$label: enqueueing $queue_jobs no-op tasks in batches of $queue_batch"
    (cd bench/celery && exec "../../$celery_venv/bin/python" driver.py --count "$queue_jobs" --batch "$queue_batch") \
        >"$work/$label-enqueue.json" || die "$label: enqueueing failed"
    left=$(redis-cli -u "$redis_url" --no-auth-warning LLEN "$BENCH_CELERY_QUEUE")
    [[ $left == "$queue_jobs" ]] || die "$label: $left tasks in the queue after enqueueing $queue_jobs"

    log "$label: two workers (pool $celery_pool, concurrency $celery_concurrency, prefetch x$celery_prefetch)"
    worker_pids=()
    for n in 1 2; do
        (cd bench/celery && exec "../../$celery_venv/bin/celery" -A tasks worker --pool "$celery_pool" \
            --concurrency "$celery_concurrency" --hostname "bench$n-$suffix@%h" --queues "$BENCH_CELERY_QUEUE" \
            --without-gossip --without-mingle --without-heartbeat --loglevel warning) >"$work/$label-worker$n.log" 2>&1 &
        started_pids+=($!)
        worker_pids+=($!)
    done
    measure_drain "$label" celery_left
    for pid in "${worker_pids[@]}"; do
        stop_process "$pid" || die "$label: worker $pid did not stop cleanly: $(tail -5 "$work/$label-worker"*.log)"
    done
    # The counter is flushed once more as the workers stop: it must still say every task ran exactly once.
    left=$(celery_left)
    [[ $left == 0 ]] || die "$label: $((queue_jobs - left)) tasks ran out of $queue_jobs"
    queue_record "$label" "$work/$label-enqueue.json"
}

run_queue() {
    log "queue: $queue_jobs no-op jobs per backend, two worker processes each"
    made_databases+=("$queue_database")
    sql "DROP DATABASE IF EXISTS \`$queue_database\`; CREATE DATABASE \`$queue_database\` CHARACTER SET utf8mb4"
    mariadb_left() { sql_value "SELECT COUNT(*) FROM \`$queue_database\`.jobs"; }
    local sqlite_file=$work/queue.db
    sqlite_left() { sqlite3 -cmd '.timeout 10000' "$sqlite_file" 'SELECT COUNT(*) FROM jobs'; }

    queue_taskforge mariadb "$server_url/$queue_database" mariadb_left
    queue_celery
    queue_taskforge sqlite "sqlite://$sqlite_file" sqlite_left

    local celery_rate mariadb_rate sqlite_rate
    celery_rate=$(awk '$1 == "celery" { print $3 }' <<<"$queue_results")
    mariadb_rate=$(awk '$1 == "mariadb" { print $3 }' <<<"$queue_results")
    sqlite_rate=$(awk '$1 == "sqlite" { print $3 }' <<<"$queue_results")
    local mariadb_ratio sqlite_ratio
    mariadb_ratio=$(awk -v a="$mariadb_rate" -v b="$celery_rate" 'BEGIN { printf "%.2f", a / b }')
    sqlite_ratio=$(awk -v a="$sqlite_rate" -v b="$celery_rate" 'BEGIN { printf "%.2f", a / b }')

    echo
    echo "Job queue bench: $queue_jobs no-op jobs per backend, enqueued in batches of $queue_batch, drained by two" \
        "worker processes"
    echo "taskforge worker --pool notifications, concurrency ${queue_concurrency:-of the pool (16)};" \
        "celery $celery_pool pool, concurrency $celery_concurrency, prefetch x$celery_prefetch"
    echo "$(nproc) cores shared by the workers, the database or Redis and anything else running here"
    printf '%-10s %16s %14s %12s %12s\n' backend "enqueue jobs/s" "drain jobs/s" "drain s" "wall s"
    while read -r name enqueue drain seconds wall; do
        [[ -n $name ]] && printf '%-10s %16s %14s %12s %12s\n' "$name" "$enqueue" "$drain" "$seconds" "$wall"
    done <<<"$queue_results"
    echo "drain mariadb / celery = $mariadb_ratio; sqlite / celery = $sqlite_ratio"

    echo
    echo "Goals:"
    goal "mariadb drain >= 2x celery" "$mariadb_ratio >= 2" "$mariadb_ratio x"
    goal "sqlite drain >= 2x celery" "$sqlite_ratio >= 2" "$sqlite_ratio x"
}

# `taskforge serve` with the embedded defaults on a data directory of its own; bench/mail/latency.py drives it.
run_mail() {
    log "mail: $mail_tasks assignments at $mail_rate/s, then a burst of $mail_burst, in taskforge serve"
    local results=$work/mail-results.txt
    # The defaults, whatever the caller's environment (or the http section) says: SQLite in the data directory, the
    # database queue, mail written to {data_dir}/outbox. This section runs last, so changing the environment is safe.
    unset TASKFORGE_DATABASE_URL
    export TASKFORGE_DATA_DIR=$work/mail TASKFORGE_QUEUE=database TASKFORGE_MAIL=outbox
    # One token creates every task: lift its per-minute quota out of the way.
    export TASKFORGE_TOKEN_REQUESTS_PER_MINUTE=1000000000
    start_server serve serve
    log "serve ready at $base"
    python3 bench/mail/latency.py --base "$base" --outbox "$TASKFORGE_DATA_DIR/outbox" --tasks "$mail_tasks" \
        --rate "$mail_rate" --burst "$mail_burst" --deadline "$mail_deadline" >"$results" ||
        die "the mail latency driver failed (server log: $work/serve.err)"
    stop_process "$server_pid" || die "taskforge serve did not stop cleanly: $(tail -5 "$work/serve.err")"
    cat "$results" >&2

    field() { sed -nE "s/.* $2=([^ ]+).*/\1/p" <<<"$1"; }
    echo
    echo "Mail latency bench: task assignment → .eml in the outbox, taskforge serve on SQLite (database queue, outbox mail)"
    echo "$(nproc) cores shared by the driver, taskforge serve and anything else running here"
    printf '%-12s %8s %10s %10s %10s %10s\n' scenario emails "p50 ms" "p95 ms" "p99 ms" "max ms"
    local line name
    while read -r line; do
        name=$(awk '{ print $2 }' <<<"$line")
        printf '%-12s %8s %10s %10s %10s %10s\n' "$name" "$(field "$line" count)" "$(field "$line" p50_ms)" \
            "$(field "$line" p95_ms)" "$(field "$line" p99_ms)" "$(field "$line" max_ms)"
    done < <(grep '^RESULT ' "$results")

    echo
    echo "Goals:"
    while read -r line; do
        name=$(awk '{ print $2 }' <<<"$line")
        goal "$name p99 < 1 s" "$(field "$line" p99_ms) < 1000" "$(field "$line" p99_ms) ms"
    done < <(grep '^RESULT ' "$results")
}

# Runs one timed process pinned to the bench core; appends "LABEL FORMAT images/s peak-RSS-KiB" to $thumbs_results.
thumbs_results=""
thumbs_timed() { # label, format, image count, command...
    local label=$1 format=$2 count=$3 started ended rss rate
    shift 3
    started=$EPOCHREALTIME
    /usr/bin/time -f '%M' -o "$work/thumbs-rss.txt" taskset -c "$thumbs_cpu" "$@" >"$work/thumbs-$label.log" 2>&1 ||
        die "$label on $format failed: $(tail -5 "$work/thumbs-$label.log")"
    ended=$EPOCHREALTIME
    rss=$(tail -1 "$work/thumbs-rss.txt")
    rate=$(awk -v n="$count" -v a="$started" -v b="$ended" 'BEGIN { printf "%.3f", n / (b - a) }')
    thumbs_results+="$label $format $rate $rss"$'\n'
}

run_thumbs() {
    local input=$work/thumbs-input out=$work/thumbs-out round format files label cores
    cores=$(nproc)
    ((thumbs_cpu < cores)) || die "BENCH_THUMBS_CPU=$thumbs_cpu but this machine has $cores cores"
    log "thumbs: generating $thumbs_count JPEG and PNG photos of ${thumbs_width}x$thumbs_height"
    "$thumbs" generate --dir "$input" --count "$thumbs_count" --width "$thumbs_width" --height "$thumbs_height"
    for format in jpg png; do
        files=("$input"/photo-*."$format")
        log "thumbs: $format, ${thumbs_size} px box, $thumbs_rounds rounds on core $thumbs_cpu"
        for ((round = 1; round <= thumbs_rounds; round++)); do
            # Alternating which runs first, so a slow moment of the machine does not always fall on the same side.
            local order=(vips taskforge taskforge-3sizes)
            ((round % 2)) || order=(taskforge-3sizes taskforge vips)
            for label in "${order[@]}"; do
                rm -rf "$out" && mkdir -p "$out"
                case $label in
                vips)
                    thumbs_timed vipsthumbnail "$format" "${#files[@]}" \
                        env VIPS_CONCURRENCY=1 vipsthumbnail --size "$thumbs_size" \
                        --output "$out/%s.jpg[Q=82,strip]" "${files[@]}"
                    ;;
                taskforge)
                    thumbs_timed taskforge "$format" "${#files[@]}" \
                        "$thumbs" render --sizes "$thumbs_size" --out "$out" "${files[@]}"
                    ;;
                taskforge-3sizes)
                    thumbs_timed taskforge-3sizes "$format" "${#files[@]}" \
                        "$thumbs" render --sizes "$thumbs_size,256,64" --out "$out" "${files[@]}"
                    ;;
                esac
                # Every run must have made one thumbnail (per size) of every photo.
                local made
                made=$(find "$out" -type f | wc -l)
                local wanted=${#files[@]}
                [[ $label == taskforge-3sizes ]] && wanted=$((wanted * 3))
                ((made == wanted)) || die "$label on $format wrote $made files, expected $wanted"
            done
        done
    done
    # The same output size on both sides: compare the last run's dimensions with vipsheader.
    rm -rf "$out" && mkdir -p "$out"
    VIPS_CONCURRENCY=1 vipsthumbnail --size "$thumbs_size" --output "$out/%s-vips.jpg[Q=82,strip]" "$input/photo-1.jpg"
    "$thumbs" render --sizes "$thumbs_size" --out "$out" "$input/photo-1.jpg" >/dev/null
    local vips_dims ours_dims
    vips_dims=$(vipsheader -f width "$out/photo-1-vips.jpg")x$(vipsheader -f height "$out/photo-1-vips.jpg")
    ours_dims=$(vipsheader -f width "$out/photo-1-$thumbs_size.jpg")x$(vipsheader -f height "$out/photo-1-$thumbs_size.jpg")
    [[ $vips_dims == "$ours_dims" ]] || die "output sizes differ: vipsthumbnail $vips_dims, taskforge $ours_dims"

    median() { # label, format → the median images/s of the rounds
        awk -v l="$1" -v f="$2" '$1 == l && $2 == f { print $3 }' <<<"$thumbs_results" | sort -g |
            awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
    }
    peak_mib() { # label, format → the largest peak RSS of the rounds, MiB
        awk -v l="$1" -v f="$2" '$1 == l && $2 == f && $4 > m { m = $4 } END { printf "%.0f", m / 1024 }' <<<"$thumbs_results"
    }
    echo
    echo "Thumbnail bench: $thumbs_count JPEG and $thumbs_count PNG photo-like images of ${thumbs_width}x$thumbs_height," \
        "one ${thumbs_size} px box each ($ours_dims), JPEG Q82 without metadata"
    echo "$(vips --version), one core each (taskset -c $thumbs_cpu, VIPS_CONCURRENCY=1); median of $thumbs_rounds rounds;" \
        "taskforge-3sizes also makes 256 and 64 px (informational)"
    printf '%-6s %-18s %10s %14s\n' format tool images/s "peak RSS MiB"
    local ratios=()
    for format in jpg png; do
        for label in vipsthumbnail taskforge taskforge-3sizes; do
            printf '%-6s %-18s %10s %14s\n' "$format" "$label" "$(median "$label" "$format")" "$(peak_mib "$label" "$format")"
        done
        ratios+=("$(awk -v a="$(median taskforge "$format")" -v b="$(median vipsthumbnail "$format")" \
            'BEGIN { printf "%.2f", a / b }')")
    done
    echo "taskforge / vipsthumbnail: jpg ${ratios[0]}, png ${ratios[1]}"

    echo
    echo "Goals:"
    goal "jpg thumbnails >= 1x vipsthumbnail" "${ratios[0]} >= 1" "${ratios[0]} x"
    goal "png thumbnails >= 1x vipsthumbnail" "${ratios[1]} >= 1" "${ratios[1]} x"
}

run_live() {
    log "live: $live_clients SSE clients on one api process, $live_writes renames at $live_rate/s"
    export TASKFORGE_DATABASE_URL=$server_url/$live_database TASKFORGE_QUEUE=database TASKFORGE_BUS=$redis_url
    export TASKFORGE_DATA_DIR=$work/live TASKFORGE_TOKEN_REQUESTS_PER_MINUTE=1000000000
    made_databases+=("$live_database")
    sql "DROP DATABASE IF EXISTS \`$live_database\`; CREATE DATABASE \`$live_database\` CHARACTER SET utf8mb4"
    "$taskforge" migrate
    local email=live@bench.example token org project results=$work/live-results.txt
    TASKFORGE_ADMIN_PASSWORD='live bench password' "$taskforge" admin create-user --email "$email" --name Live >/dev/null
    "$taskforge" admin create-org --name Live --owner-email "$email" >/dev/null
    token=$("$taskforge" admin create-token --email "$email" | tail -1)
    # A thousand streams are a thousand sockets in the API process.
    ulimit -n "$(ulimit -Hn)"
    (($(ulimit -n) > live_clients + 100)) || die "open-file limit $(ulimit -n) is too low for $live_clients streams"
    start_server live-api api
    "$taskforge" worker --pool notifications >"$work/live-worker.out" 2>"$work/live-worker.err" &
    started_pids+=($!)
    org=$(curl -fsS -H "Authorization: Bearer $token" "$base/api/v1/orgs" | jq -r 'if type == "array" then .[0].id else .items[0].id end')
    project=$(curl -fsS -H "Authorization: Bearer $token" -H 'content-type: application/json' \
        -d '{"key": "LIVE", "name": "Live"}' "$base/api/v1/orgs/$org/projects" | jq -r .id)
    : >"$results"
    local clients
    for clients in 1 "$live_clients"; do
        "$livebench" --base "$base" --token "$token" --org "$org" --project "$project" --clients "$clients" \
            --writes "$live_writes" --rate "$live_rate" >>"$results" ||
            die "the live driver failed with $clients clients (api log: $work/live-api.err)"
    done
    cat "$results" >&2

    field() { sed -nE "s/.* $2=([^ ]+).*/\1/p" <<<"$1"; }
    local one many
    one=$(grep '^RESULT clients=1 ' "$results")
    many=$(grep "^RESULT clients=$live_clients " "$results" | tail -1)
    echo
    echo "Live updates bench: task rename → SSE delivery, one taskforge api + one worker on MariaDB and the Redis bus"
    echo "$(nproc) cores shared by the driver, the api, the worker, MariaDB and Redis"
    printf '%-10s %12s %10s %10s %10s\n' clients deliveries "p50 ms" "p99 ms" "max ms"
    local line
    for line in "$one" "$many"; do
        printf '%-10s %12s %10s %10s %10s\n' "$(field "$line" clients)" "$(field "$line" deliveries)" \
            "$(field "$line" p50_ms)" "$(field "$line" p99_ms)" "$(field "$line" max_ms)"
    done
    local ratio
    ratio=$(awk -v a="$(field "$many" p99_ms)" -v b="$(field "$one" p99_ms)" 'BEGIN { printf "%.2f", a / b }')
    echo "p99 with $live_clients clients / p99 with 1 client: $ratio x"
    echo
    echo "Goals:"
    goal "$live_clients clients p99 < 250 ms" "$(field "$many" p99_ms) < 250" "$(field "$many" p99_ms) ms"
}

if selected http; then
    run_http
fi
if selected queue; then
    run_queue
fi
if selected mail; then
    run_mail
fi
if selected thumbs; then
    run_thumbs
fi
if selected live; then
    run_live
fi
