#!/bin/sh
# Creates the controller's own database role and database. docker-compose.yml mounts this file into
# the postgres image's /docker-entrypoint-initdb.d/, which runs it once, when the data directory is
# initialised, as the superuser over the local socket. On a PostgreSQL server of your own, run it
# the same way: sudo -u postgres env CORRIDOR_DB_PASSWORD=... sh init-corridor.sh
#
# The role is no superuser and may create neither roles nor databases: it owns its database and
# nothing else, so a compromised controller cannot reach the server beyond Corridor's data (a
# superuser could run programs on the database host with COPY ... TO PROGRAM). The controller's
# migrations need no more: pg_trgm, which one of them creates, is a trusted extension.
#
# Environment: CORRIDOR_DB_PASSWORD (required), CORRIDOR_DB_USER and CORRIDOR_DB_NAME (default
# corridor), POSTGRES_USER (the superuser to connect as; default postgres).
set -eu
: "${CORRIDOR_DB_PASSWORD:?set CORRIDOR_DB_PASSWORD}"
psql --no-psqlrc -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v role="${CORRIDOR_DB_USER:-corridor}" -v db="${CORRIDOR_DB_NAME:-corridor}" \
  -v password="$CORRIDOR_DB_PASSWORD" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
CREATE DATABASE :"db" OWNER :"role";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
