#!/usr/bin/env bash
# `gate` for the technician on a production machine: runs /opt/gatehouse/.venv/bin/gate as the
# service user with the services' settings (/etc/gatehouse/gatehouse.env), so a command sees the
# same database, site and instance keys as the gatehouse-* units, and any key file it creates
# belongs to the service user.
#   sudo install -m 0755 /opt/gatehouse/deploy/gate.sh /usr/local/sbin/gate
#   sudo gate audit verify
set -euo pipefail

GATE_USER="${GATEHOUSE_USER:-gatehouse}"
GATE_HOME="${GATEHOUSE_HOME:-/opt/gatehouse}"
ENV_FILE="${GATEHOUSE_ENV_FILE:-/etc/gatehouse/gatehouse.env}"

if [ "$(id -un)" != "$GATE_USER" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "gate: run it as root (sudo gate …) or as $GATE_USER" >&2
        exit 1
    fi
    # runuser keeps nothing of root's environment but what is passed on here.
    exec runuser -u "$GATE_USER" -- env GATEHOUSE_USER="$GATE_USER" GATEHOUSE_HOME="$GATE_HOME" \
        GATEHOUSE_ENV_FILE="$ENV_FILE" bash "$0" "$@"
fi
if [ ! -r "$ENV_FILE" ]; then
    echo "gate: cannot read $ENV_FILE (install it from deploy/systemd/gatehouse.env.example)" >&2
    exit 1
fi
# The env file is in systemd's KEY=value form, which the shell reads the same way; a value with
# spaces goes in double quotes (GATE_LOGIN_RATE_LIMIT="30 per minute"), which both understand.
set -a
# shellcheck source=/dev/null
. "$ENV_FILE"
set +a
cd "$GATE_HOME"
exec "$GATE_HOME/.venv/bin/gate" "$@"
