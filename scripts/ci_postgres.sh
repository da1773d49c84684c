#!/usr/bin/env bash
# Install (Debian package) and start a local PostgreSQL for the ledger tests; idempotent.
# Prints the URL to use as NZEZA_TEST_PG_URL on its last line, only once the server answers a
# password login over TCP on 127.0.0.1 as the test role; exits non-zero otherwise.
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql >/dev/null
fi
ver=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h 2>/dev/null | grep -q "^$ver main"; then
  pg_createcluster "$ver" main >/dev/null
fi
if ! pg_lsclusters -h | grep "^$ver main" | grep -q online; then
  pg_ctlcluster "$ver" main start
fi
port=$(pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $3}')
su postgres -c "psql -p $port -tAc \"SELECT 1 FROM pg_roles WHERE rolname='nzeza'\"" | grep -q 1 \
  || su postgres -c "psql -p $port -qc \"CREATE ROLE nzeza LOGIN PASSWORD 'nzeza' CREATEDB\""
su postgres -c "psql -p $port -tAc \"SELECT 1 FROM pg_database WHERE datname='nzeza_test'\"" | grep -q 1 \
  || su postgres -c "psql -p $port -qc 'CREATE DATABASE nzeza_test OWNER nzeza'"
# the same login the tests make: TCP, password, the test database
for _ in $(seq 1 30); do
  if PGPASSWORD=nzeza psql -h 127.0.0.1 -p "$port" -U nzeza -d nzeza_test -tAc 'SELECT 1' \
      2>/dev/null | grep -q 1; then
    echo "postgresql+psycopg://nzeza:nzeza@127.0.0.1:$port/nzeza_test"
    exit 0
  fi
  sleep 1
done
echo "ci_postgres: PostgreSQL $ver on port $port does not accept the nzeza login on 127.0.0.1" >&2
exit 1
