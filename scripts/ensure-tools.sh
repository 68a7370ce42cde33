#!/usr/bin/env bash
# Makes sure everything `make test` needs beyond the Rust toolchain is present:
#   - cargo-nextest (the test runner),
#   - a Python venv at .venv with the pinned schemathesis (scripts/schemathesis-requirements.txt),
#   - a Python venv at .venv-moto with the pinned moto server, started on $TASKFORGE_TEST_AWS_URL (scripts/moto.sh),
#   - clamd (Debian's clamav-daemon) with the test signatures, started on $TASKFORGE_TEST_CLAMD_ADDR (scripts/clamd.sh),
#   - redis-server, and a Redis answering on 127.0.0.1:6379 for the bus tests,
#   - a MariaDB server answering on 127.0.0.1:3306 for the MySQL variant of the tests.
# Idempotent: a second run installs nothing and takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'ensure-tools: %s\n' "$*"; }
die() { printf 'ensure-tools: error: %s\n' "$*" >&2; exit 1; }

# --- Rust tools -------------------------------------------------------------------------------------------------
# rustfmt and clippy come with the toolchain (rustup components); they cannot be fetched from crates.io, so a
# missing one is reported rather than installed.
cargo fmt --version >/dev/null 2>&1 || die "rustfmt is missing: rustup component add rustfmt"
cargo clippy --version >/dev/null 2>&1 || die "clippy is missing: rustup component add clippy"

if ! command -v cargo-nextest >/dev/null 2>&1; then
    log "installing cargo-nextest from crates.io (a few minutes, once)"
    cargo install cargo-nextest --locked
fi

# --- Python venvs: schemathesis, and moto (the AWS stand-in for SQS, SES, S3 and DynamoDB) ----------------------
# Each tool has its own venv so their pinned dependencies never have to agree. A venv is rebuilt only when its
# pinned requirements (or the interpreter) change: a stamp file records the hash of what was installed.
python=${PYTHON:-python3}
command -v "$python" >/dev/null 2>&1 || die "$python not found; Python 3 is needed for schemathesis and moto"

ensure_venv() {
    local venv=$1 requirements=$2 probe=$3
    local wanted stamp
    wanted="$(sha256sum "$requirements" | cut -d' ' -f1) $("$python" -c 'import sys; print(sys.version.split()[0])')"
    stamp="$venv/.requirements.stamp"
    if [[ ! -x $venv/bin/$probe || ! -f $stamp || "$(cat "$stamp")" != "$wanted" ]]; then
        log "creating $venv from $requirements"
        rm -rf "$venv"
        "$python" -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check --require-virtualenv -r "$requirements"
        echo "$wanted" >"$stamp"
    fi
}

ensure_venv .venv scripts/schemathesis-requirements.txt schemathesis
ensure_venv .venv-moto scripts/moto-requirements.txt moto_server

# --- moto server ------------------------------------------------------------------------------------------------
# Started in the background on first use and left running (like MariaDB); scripts/moto.sh knows how.
scripts/moto.sh start
# The S3 tests get a server of their own: after a multipart upload moto can no longer render /moto-api/data.json
# (a moto bug), which is where the SES tests read sent mail back.
MOTO_URL=${TASKFORGE_TEST_S3_URL:-http://127.0.0.1:5056} scripts/moto.sh start

# --- clamd -------------------------------------------------------------------------------------------------------
# The scanner tests talk to a real clamd. Debian's package brings the daemon but no signatures (scripts/clamd.sh
# writes a test database) and its service start is not used: the script starts clamd itself.
if ! command -v clamd >/dev/null 2>&1 && [[ ! -x /usr/sbin/clamd ]]; then
    command -v apt-get >/dev/null 2>&1 || die "clamd is missing and apt-get is not available: install ClamAV's clamd"
    sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 || die "clamd is missing: run as root or install clamav-daemon"
        sudo=(sudo)
    fi
    log "installing clamav-daemon (Debian package, once)"
    # A stale package list may not know the package yet: refresh it once and try again.
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q clamav-daemon >/dev/null; then
        "${sudo[@]}" apt-get update -q >/dev/null
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q clamav-daemon >/dev/null
    fi
fi
scripts/clamd.sh start

# --- Redis ------------------------------------------------------------------------------------------------------
# The bus tests use the machine's Redis and start private redis-servers of their own (to stop one mid-test), so
# both the server binary and a running default server are needed. Like MariaDB, a Redis elsewhere is left alone.
redis_url=${TASKFORGE_TEST_REDIS_URL:-redis://127.0.0.1:6379}
redis_up() { redis-cli -u "$redis_url" ping 2>/dev/null | grep -q PONG; }
if ! command -v redis-server >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "redis-server is missing and apt-get is not available: install Redis"
    log "installing redis-server (Debian package, once)"
    if ! env DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null; then
        apt-get update -q >/dev/null
        env DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null
    fi
fi
if [[ $redis_url == redis://127.0.0.1:6379* ]] && ! redis_up; then
    log "Redis is not answering; starting it (nothing kept on disk)"
    redis-server --daemonize yes --port 6379 --save "" --appendonly no >/dev/null
    deadline=$((SECONDS + 30))
    until redis_up; do
        ((SECONDS < deadline)) || die "Redis did not answer on 127.0.0.1:6379 within 30 s"
        sleep 0.2
    done
    log "Redis is up"
fi

# --- MariaDB ----------------------------------------------------------------------------------------------------
# The MySQL variant of the black-box tests needs a server. Machines of this kind start MariaDB at boot, but it may
# have stopped since; start it the same way the machine does. A server elsewhere (TASKFORGE_TEST_MYSQL_URL naming
# another host) is the caller's business and is left alone.
mysql_url=${TASKFORGE_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306}
mysql_host=$(sed -E 's#^[a-z]+://([^@/]*@)?([^:/?]+).*#\2#' <<<"$mysql_url")
mysql_port=$(sed -nE 's#^[a-z]+://([^@/]*@)?[^:/?]+:([0-9]+).*#\2#p' <<<"$mysql_url")
mysql_port=${mysql_port:-3306}
if [[ ($mysql_host != 127.0.0.1 && $mysql_host != localhost) || $mysql_port != 3306 ]]; then
    log "MariaDB at $mysql_host:$mysql_port is not the local default server: not managing it"
    exit 0
fi

mariadb_up() { mysqladmin --connect-timeout=2 -h127.0.0.1 -P3306 -uroot ping >/dev/null 2>&1; }

if ! mariadb_up; then
    command -v mysqladmin >/dev/null 2>&1 || die "mysqladmin not found (Debian package mariadb-client)"
    [[ -x /usr/sbin/mariadbd ]] || die "/usr/sbin/mariadbd not found (Debian package mariadb-server)"
    log "MariaDB is not answering; starting it"
    # The socket directory lives on tmpfs and is normally made by the service scripts, which we bypass.
    if id mysql >/dev/null 2>&1; then
        install -d -o mysql -g mysql /run/mysqld
    fi
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    deadline=$((SECONDS + 60))
    until mariadb_up; do
        if ((SECONDS >= deadline)); then
            die "MariaDB did not answer on 127.0.0.1:3306 within 60 s (see /var/log/mysql/ or journalctl)"
        fi
        sleep 0.5
    done
    log "MariaDB is up"
fi
