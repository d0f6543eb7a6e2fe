#!/usr/bin/env bash
# Gatehouse: create (or bring in line) the PostgreSQL role and database. Safe to run again.
#
# On the database machine, as root (Debian 12, package postgresql):
#     sudo -u postgres /opt/gatehouse/deploy/postgres/setup.sh
#   or, where sudo is not installed:
#     runuser -u postgres -- /opt/gatehouse/deploy/postgres/setup.sh
# Against another server, as any superuser, with libpq's variables:
#     PGHOST=db.lan PGUSER=postgres /opt/gatehouse/deploy/postgres/setup.sh
#
# What it does:
#   * role GATE_DB_USER (default gatehouse): may log in, nothing else (no superuser, no
#     CREATEDB, no CREATEROLE);
#   * database GATE_DB_NAME (default gatehouse) owned by it, UTF8, locale GATE_DB_LOCALE
#     (default C.UTF-8), created from template0;
#   * nobody else may connect to that database, and nobody but the owner may create objects
#     in its schema public (REVOKE CREATE ... FROM PUBLIC, the default since PostgreSQL 15);
#   * prints the GATE_DATABASE_URL line for /etc/gatehouse/gatehouse.env.
#
# Authentication (GATE_DB_AUTH):
#   peer      (default when PGHOST is unset or a socket folder) the services run as the system
#             user of the same name and connect over the local Unix socket; Debian's pg_hba.conf
#             already allows this ("local all all peer"). No password exists to leak or rotate.
#   password  (default when PGHOST names a host) a random password is generated when the role
#             is created (or again with GATE_DB_NEW_PASSWORD=1) and printed in the URL once;
#             later runs leave it alone. Allow the web/bridge hosts in pg_hba.conf with
#             scram-sha-256.
set -euo pipefail
cd /   # run by runuser from root's folder, which the postgres user may not enter

DB_NAME="${GATE_DB_NAME:-gatehouse}"
DB_USER="${GATE_DB_USER:-gatehouse}"
DB_LOCALE="${GATE_DB_LOCALE:-C.UTF-8}"
if [ -z "${PGHOST:-}" ] || [ "${PGHOST#/}" != "$PGHOST" ]; then
    AUTH="${GATE_DB_AUTH:-peer}"
else
    AUTH="${GATE_DB_AUTH:-password}"
fi

die() { printf 'setup.sh: %s\n' "$*" >&2; exit 1; }

# Names go into SQL as identifiers and into the URL: keep them to plain lower-case words.
for name in "$DB_NAME" "$DB_USER"; do
    [[ "$name" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "'$name' is not a plain name ([a-z_][a-z0-9_]*)"
done
[[ "$DB_LOCALE" =~ ^[A-Za-z0-9_.@-]+$ ]] || die "'$DB_LOCALE' is not a locale name"
[ "$AUTH" = peer ] || [ "$AUTH" = password ] || die "GATE_DB_AUTH must be peer or password, not '$AUTH'"
command -v psql >/dev/null || die "psql not found: apt-get install postgresql-client"

# Run as root without PG* settings: become the postgres superuser (peer login).
PSQL=(psql -X -q -v ON_ERROR_STOP=1 --no-psqlrc)
if [ "$(id -u)" = 0 ] && [ -z "${PGUSER:-}" ] && [ -z "${PGHOST:-}" ]; then
    PSQL=(runuser -u postgres -- "${PSQL[@]}")
fi

# psql reads the statements from stdin (never the command line, where `ps` would show a password).
sql() { "${PSQL[@]}" -d "$1" -At; }

exists=$(printf "SELECT count(*) FROM pg_roles WHERE rolname = '%s';\n" "$DB_USER" | sql postgres) \
    || die "cannot reach PostgreSQL as a superuser (run it as the postgres user, or set PGHOST/PGUSER)"
password=""
if [ "$AUTH" = password ] && { [ "$exists" = 0 ] || [ "${GATE_DB_NEW_PASSWORD:-0}" = 1 ]; }; then
    # 32 URL-safe characters: nothing to escape in SQL or in the URL.
    password=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=' | cut -c1-32)
fi

sql postgres <<SQL
\\set user '$DB_USER'
\\set db '$DB_NAME'
\\set locale '$DB_LOCALE'
\\set password '$password'
SELECT format('CREATE ROLE %I LOGIN', :'user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \\gexec
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS',
              :'user') \\gexec
SELECT format('ALTER ROLE %I PASSWORD %L', :'user', :'password') WHERE :'password' <> '' \\gexec
SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L LOCALE %L TEMPLATE template0',
              :'db', :'user', 'UTF8', :'locale')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \\gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'db', :'user') \\gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \\gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', :'db', :'user') \\gexec
SQL

encoding=$(printf "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = '%s';\n" \
    "$DB_NAME" | sql postgres)
[ "$encoding" = UTF8 ] || die "database $DB_NAME exists with encoding $encoding; Gatehouse needs UTF8"

sql "$DB_NAME" <<SQL
\\set user '$DB_USER'
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SELECT format('GRANT USAGE, CREATE ON SCHEMA public TO %I', :'user') \\gexec
SQL

if [ "$AUTH" = peer ]; then
    url="postgresql+psycopg://$DB_USER@/$DB_NAME"
    note="(peer: the services must run as the system user '$DB_USER')"
elif [ -n "$password" ]; then
    port="${PGPORT:-5432}"
    url="postgresql+psycopg://$DB_USER:$password@$PGHOST:$port/$DB_NAME"
    note="(the password is shown this once)"
else
    url="postgresql+psycopg://$DB_USER:<its password>@$PGHOST:${PGPORT:-5432}/$DB_NAME"
    note="(role existed: password unchanged; GATE_DB_NEW_PASSWORD=1 sets a new one)"
fi
printf 'Role %s and database %s are ready %s. Put this line in /etc/gatehouse/gatehouse.env:\n' \
    "$DB_USER" "$DB_NAME" "$note" >&2
printf 'GATE_DATABASE_URL=%s\n' "$url"
