#!/usr/bin/env bash
# Make sure the system services and programs the test suite needs are present.
#
#  * Chromium (+ CJK fonts) for the Playwright kiosk tests. `playwright install` cannot
#    download browsers here, so the tests drive Debian's /usr/bin/chromium.
#  * The mosquitto binary. Tests start their own broker on a free port
#    (tests/plugins/mosquitto.py), so the packaged service need not run.
#  * PostgreSQL on 127.0.0.1:5432, when GATE_TEST_DATABASE_URL is set or CI=true.
#
# Missing Debian packages are installed with apt-get (as root, or through sudo).
# Used by `make test`; safe to run repeatedly.
set -euo pipefail

say() { printf '%s\n' "$*"; }
fail() { printf '%s\n' "$*" >&2; exit 1; }

is_true() {
    case "$(printf '%s' "${1:-}" | tr '[:upper:]' '[:lower:]')" in
        1 | true | yes) return 0 ;;
        *) return 1 ;;
    esac
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        return 1
    fi
}

apt_updated=0
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        return 1
    fi
    if [ "$apt_updated" -eq 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update || return 1
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
}

pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# --- Chromium for Playwright -----------------------------------------------------------
missing=()
if [ ! -x /usr/bin/chromium ]; then
    missing+=(chromium)
fi
if command -v dpkg-query >/dev/null 2>&1 && ! pkg_installed fonts-noto-cjk; then
    missing+=(fonts-noto-cjk)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    say "Installing ${missing[*]} for the Playwright kiosk tests."
    if ! apt_install "${missing[@]}"; then
        fail "Could not install ${missing[*]} (needs apt-get and root or sudo); install them and re-run make test."
    fi
fi
[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is still missing after installing the chromium package."

# --- Mosquitto binary ------------------------------------------------------------------
if [ ! -x /usr/sbin/mosquitto ] && ! command -v mosquitto >/dev/null 2>&1; then
    say "Installing mosquitto for the MQTT tests (they start their own broker)."
    if ! apt_install mosquitto; then
        fail "Could not install mosquitto (needs apt-get and root or sudo); install it and re-run make test."
    fi
fi

# --- pg_dump / pg_restore --------------------------------------------------------------
# tests/integration/test_backup.py runs `gate backup`/`gate restore` against PostgreSQL; the
# client tools must be of the server's major version (Debian's postgresql-client matches the
# Debian server package).
# tests/deploy/test_postgres_setup.py runs deploy/postgres/setup.sh, which needs psql.
if ! command -v pg_dump >/dev/null 2>&1 || ! command -v pg_restore >/dev/null 2>&1 \
        || ! command -v psql >/dev/null 2>&1; then
    say "Installing postgresql-client for the backup tests (pg_dump, pg_restore)."
    if ! apt_install postgresql-client; then
        fail "Could not install postgresql-client (needs apt-get and root or sudo); install it and re-run make test."
    fi
fi

# --- PostgreSQL ------------------------------------------------------------------------
if [ ! -x /usr/sbin/nginx ] && ! command -v nginx >/dev/null 2>&1; then
    say "Installing nginx-light for the deploy smoke test (it runs the shipped nginx site)."
    if ! apt_install nginx-light; then
        fail "Could not install nginx-light (needs apt-get and root or sudo); install it and re-run make test."
    fi
fi
on_ci=0
if is_true "${CI:-}"; then
    on_ci=1
fi

if [ -z "${GATE_TEST_DATABASE_URL:-}" ] && [ "$on_ci" -eq 0 ]; then
    say "GATE_TEST_DATABASE_URL is not set, so the PostgreSQL tests will be skipped."
    exit 0
fi

# Host and port from postgresql+psycopg://user@host:port/db; default 127.0.0.1:5432.
pg_host=127.0.0.1
pg_port=5432
url="${GATE_TEST_DATABASE_URL:-}"
if [[ "$url" =~ ^[a-z0-9+]+://([^@/]*@)?([^:/?]+)(:([0-9]+))? ]]; then
    pg_host="${BASH_REMATCH[2]}"
    pg_port="${BASH_REMATCH[4]:-5432}"
fi

pg_up() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$pg_host" -p "$pg_port" -t 2
    else
        timeout 2 bash -c "exec 3<>/dev/tcp/${pg_host}/${pg_port}" 2>/dev/null
    fi
}

if ! pg_up; then
    local_host=0
    case "$pg_host" in
        127.0.0.1 | localhost | ::1) local_host=1 ;;
    esac
    if [ "$local_host" -eq 1 ] && [ -d /etc/postgresql ]; then
        version="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n 1)"
        if [ -n "$version" ]; then
            say "Starting PostgreSQL ${version}/main."
            as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start \
                || say "pg_ctlcluster could not start PostgreSQL ${version}/main."
            for _ in $(seq 1 30); do
                pg_up && break
                sleep 1
            done
        fi
    fi
fi

if pg_up; then
    say "PostgreSQL is reachable at ${pg_host}:${pg_port}."
elif [ "$on_ci" -eq 1 ]; then
    fail "PostgreSQL is not reachable at ${pg_host}:${pg_port}, and on CI the PostgreSQL tests must run."
elif [ ! -d /etc/postgresql ]; then
    say "PostgreSQL is not installed on this machine, so the PostgreSQL tests will be skipped."
else
    say "PostgreSQL is not reachable at ${pg_host}:${pg_port}, so the PostgreSQL tests will be skipped."
fi
