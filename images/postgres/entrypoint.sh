#!/bin/bash
# Starts PostgreSQL in the foreground. On first start it creates the Debian cluster
# "15/main", listening on every address with password authentication, and the role and
# database named by POSTGRES_USER / POSTGRES_DB with password POSTGRES_PASSWORD.
set -euo pipefail

ver="${PG_MAJOR:-15}"
conf="/etc/postgresql/$ver/main"
data="/var/lib/postgresql/$ver/main"
bin="/usr/lib/postgresql/$ver/bin"

mkdir -p /var/run/postgresql /var/lib/postgresql
chown postgres:postgres /var/run/postgresql /var/lib/postgresql
chmod 2775 /var/run/postgresql

if [ ! -s "$data/PG_VERSION" ]; then
    # a config folder left without its data (new volume) is recreated with the cluster
    rm -rf "$conf"
    pg_createcluster --locale C.UTF-8 --encoding UTF8 "$ver" main -- --auth-local=peer --auth-host=scram-sha-256 >/dev/null
    cat >> "$conf/postgresql.conf" <<CONF
listen_addresses = '*'
log_destination = 'stderr'
logging_collector = off
log_min_messages = warning
shared_buffers = 32MB
max_connections = 50
CONF
    echo "host all all 0.0.0.0/0 scram-sha-256" >> "$conf/pg_hba.conf"
    echo "host all all ::/0 scram-sha-256" >> "$conf/pg_hba.conf"
    fresh=1
else
    fresh=0
fi

if [ "$fresh" = 1 ]; then
    # create the role and database with a temporary server listening on the socket only
    setpriv --reuid postgres --regid postgres --init-groups \
        "$bin/pg_ctl" -D "$data" -o "-c config_file=$conf/postgresql.conf -c listen_addresses=''" -w -s start
    q() { setpriv --reuid postgres --regid postgres --init-groups psql -v ON_ERROR_STOP=1 -qAtX "$@"; }
    q -v u="$POSTGRES_USER" -v p="$POSTGRES_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'u', :'p') \gexec
SQL
    q -v u="$POSTGRES_USER" -v d="$POSTGRES_DB" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'d', :'u') \gexec
SQL
    setpriv --reuid postgres --regid postgres --init-groups "$bin/pg_ctl" -D "$data" -m fast -w -s stop
fi

exec setpriv --reuid postgres --regid postgres --init-groups \
    "$bin/postgres" -D "$data" -c "config_file=$conf/postgresql.conf"
