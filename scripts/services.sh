#!/usr/bin/env bash
# Starts the real PostgreSQL and Redis servers the integration tests use, when this machine can
# (root on Debian), and prints the environment to export: DATABASE_URL_TEST, REDIS_URL_TEST.
# Usage: eval "$(bash scripts/services.sh)"
cd "$(dirname "$0")/.."
. scripts/lib.sh

PG_PORT=${CORRIDOR_PG_PORT:-5432}
REDIS_PORT=${CORRIDOR_REDIS_PORT:-6379}
PG_PASS=corridor-test-only

start_postgres() {
  command -v pg_lsclusters >/dev/null 2>&1 || apt_install postgresql >&2 || return 1
  local ver
  ver=$(pg_lsclusters -h 2>/dev/null | awk 'NR==1{print $1}')
  if [ -z "$ver" ]; then
    ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
    pg_createcluster "$ver" main >/dev/null
  fi
  if ! pg_lsclusters -h | awk '$2=="main"{print $4}' | grep -q online; then
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2 || return 1
  fi
  su postgres -c "psql -q -v ON_ERROR_STOP=1" >/dev/null <<SQL || return 1
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'corridor') THEN
    CREATE ROLE corridor LOGIN CREATEDB PASSWORD '$PG_PASS';
  ELSE
    ALTER ROLE corridor LOGIN CREATEDB PASSWORD '$PG_PASS';
  END IF;
END \$\$;
SQL
  echo "export DATABASE_URL_TEST='postgresql://corridor:$PG_PASS@127.0.0.1:$PG_PORT/postgres'"
}

start_redis() {
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server >&2 || return 1
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes >&2 || return 1
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  echo "export REDIS_URL_TEST='redis://127.0.0.1:$REDIS_PORT'"
}

if [ "$(id -u)" -eq 0 ]; then
  start_postgres || say "PostgreSQL could not be started; its integration tests will say so"
  start_redis || say "Redis could not be started; its integration tests will say so"
else
  say "not root: not starting PostgreSQL/Redis (set DATABASE_URL_TEST and REDIS_URL_TEST yourself)"
fi
