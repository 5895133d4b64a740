#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the database tests (tests/integration/test_ingest.py).
#   eval "$(bash tests/postgres.sh start)"   # prints the PG* variables the tests read
#   bash tests/postgres.sh stop
# Debian's postgresql package provides the server (.ci/run installs it). The cluster lives in
# ${DISTML_TEST_PGDATA:-/tmp/distml-test-pg}, listens on 127.0.0.1:${DISTML_TEST_PGPORT:-54329}
# only, and is removed by `stop`. As root the server runs as the postgres user (it refuses root).
set -euo pipefail
DATA=${DISTML_TEST_PGDATA:-/tmp/distml-test-pg}
PORT=${DISTML_TEST_PGPORT:-54329}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
[ -n "$BIN" ] || { echo "tests/postgres.sh: no PostgreSQL server; apt-get install postgresql" >&2; exit 1; }
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "${1:-}" in
start)
  if [ -d "$DATA" ]; then as_owner "$BIN/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$DATA"; fi
  mkdir -p "$DATA"
  [ "$(id -u)" = 0 ] && chown postgres: "$DATA"
  as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >/dev/null
  as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DATA -c fsync=off -c max_connections=50" start >/dev/null
  as_owner "$BIN/psql" -h "$DATA" -p "$PORT" -U postgres -q -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE distml LOGIN PASSWORD 'distml-test'" -c "CREATE DATABASE distml_test OWNER distml" >/dev/null
  echo "export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=distml PGPASSWORD=distml-test PGDATABASE=distml_test"
  ;;
stop)
  if [ -d "$DATA" ]; then as_owner "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true; rm -rf "$DATA"; fi
  ;;
*) echo "usage: tests/postgres.sh start|stop" >&2; exit 2 ;;
esac
