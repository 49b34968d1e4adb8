#!/usr/bin/env bash
# The members benchmark on SQLite and on PostgreSQL: 100,000 members in one organization among
# 1,000 organizations of 100, imported through the CSV API (preview + apply, server memory),
# then the members list API's p50/p99 for every page, search, filter and order, and the
# sign-in lookup by (tenant id, object id) at the storage layer.
#   bench/members.sh            # both databases
#   bench/members.sh sqlite     # one
# PostgreSQL: BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); each run
# uses a fresh database created there.
set -euo pipefail
cd "$(dirname "$0")/.."
only="${1:-}"
pg_url="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

cargo build --release -p server --bin gatehouse
cargo build --release -p bench --bin members-bench

for backend in sqlite postgres; do
  if [ -n "$only" ] && [ "$only" != "$backend" ]; then continue; fi
  database=sqlite
  if [ "$backend" = postgres ]; then
    name="gh_bench_$RANDOM$RANDOM"
    psql "$pg_url" -qc "CREATE DATABASE $name" >/dev/null
    database="${pg_url%/*}/$name"
  fi
  target/release/members-bench --database "$database"
  if [ "$backend" = postgres ]; then psql "$pg_url" -qc "DROP DATABASE $name" >/dev/null; fi
done
