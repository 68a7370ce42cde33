#!/usr/bin/env bash
# The clamd that the scanner tests talk to, with a small signature database of its own (no internet needed).
#   scripts/clamd.sh start   start it unless something already answers zPING on $TASKFORGE_TEST_CLAMD_ADDR; wait
#   scripts/clamd.sh stop    stop the clamd this script started
# The default address is 127.0.0.1:3310. clamd comes from Debian's clamav-daemon (scripts/ensure-tools.sh installs it).
#
# Debian ships no signatures and freshclam needs the internet, so the test database is written here: EICAR's MD5
# (.hdb) and a body signature on EICAR's text (.ndb), which also finds EICAR inside a zip once clamd unpacks it.
# The package's own service start is bypassed: clamd runs in the foreground under setsid with a private config, as
# the invoking user (no `User` line), so it can read the database this script wrote.
set -euo pipefail
cd "$(dirname "$0")/.."

addr=${TASKFORGE_TEST_CLAMD_ADDR:-127.0.0.1:3310}
host=${addr%:*}
port=${addr##*:}
state_dir=${TMPDIR:-/tmp}/taskforge-clamd-$port
pidfile=$state_dir/pid

log() { printf 'clamd: %s\n' "$*"; }
die() { printf 'clamd: error: %s\n' "$*" >&2; exit 1; }
# zPING answers PONG followed by NUL; bash's /dev/tcp keeps this free of netcat variants.
up() {
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/$1/$2" || exit 1
        printf "zPING\0" >&3
        IFS= read -r -d "" reply <&3 || true
        [[ $reply == PONG ]]' _ "$host" "$port" 2>/dev/null
}

write_database() {
    local db=$1
    mkdir -p "$db"
    # MD5:size:name of the 68-byte EICAR test file.
    echo '44d88612fea8a8f36de82e1278abb02f:68:Test.EICAR' >"$db/taskforge-test.hdb"
    # name:target type (0 = any):offset (* = anywhere):hex of "EICAR-STANDARD-ANTIVIRUS-TEST-FILE".
    printf 'Test.EICAR.Body:0:*:%s\n' "$(printf 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE' | od -An -tx1 | tr -d ' \n')" \
        >"$db/taskforge-test.ndb"
}

case ${1:-start} in
start)
    if up; then
        exit 0
    fi
    [[ $host == 127.0.0.1 || $host == localhost ]] || die "nothing answers on $addr and it is not local: start it there"
    command -v clamd >/dev/null 2>&1 || [[ -x /usr/sbin/clamd ]] || die "clamd missing: run scripts/ensure-tools.sh"
    clamd_bin=$(command -v clamd || echo /usr/sbin/clamd)
    mkdir -p "$state_dir"
    write_database "$state_dir/db"
    # StreamMaxLength is kept small enough that the tests can exceed it with a generated stream in a second or two.
    cat >"$state_dir/clamd.conf" <<EOF
TCPSocket $port
TCPAddr $host
DatabaseDirectory $state_dir/db
Foreground yes
LogFile $state_dir/clamd.log
LogTime yes
StreamMaxLength 32M
MaxThreads 4
ReadTimeout 30
CommandReadTimeout 30
IdleTimeout 30
SelfCheck 0
Bytecode no
ScanArchive yes
EOF
    log "starting clamd on $addr (log: $state_dir/clamd.log)"
    # setsid: clamd outlives the make invocation that started it, like the machine's other services.
    setsid "$clamd_bin" -c "$state_dir/clamd.conf" >"$state_dir/clamd.out" 2>&1 </dev/null &
    echo $! >"$pidfile"
    deadline=$((SECONDS + 60))
    until up; do
        if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            tail -20 "$state_dir/clamd.out" "$state_dir/clamd.log" >&2 || true
            die "clamd exited during start-up"
        fi
        ((SECONDS < deadline)) || die "clamd did not answer PONG on $addr within 60 s (see $state_dir/clamd.log)"
        sleep 0.3
    done
    log "clamd is up"
    ;;
stop)
    if [[ -f $pidfile ]]; then
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    fi
    ;;
*)
    die "usage: scripts/clamd.sh start|stop"
    ;;
esac
