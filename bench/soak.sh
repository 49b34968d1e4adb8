#!/usr/bin/env bash
# The soak: sign-ins at half of the measured peak, with an operator reading the console every
# second, for ten minutes on SQLite and on PostgreSQL, against a release Gatehouse pinned to
# core 0 (the load on core 1). Prints memory, open files and the database's size every minute.
#   bench/soak.sh                  # 10 minutes each
#   SOAK_MINUTES=2 bench/soak.sh sqlite
# PostgreSQL: BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${SOAK_MINUTES:-10}"
only="${1:-}"
pg_url="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

cargo build --release -p server --bin gatehouse
cargo build --release -p bench --bin soak-bench

for backend in sqlite postgres; do
  if [ -n "$only" ] && [ "$only" != "$backend" ]; then continue; fi
  database=sqlite
  if [ "$backend" = postgres ]; then
    name="gh_bench_$RANDOM$RANDOM"
    psql "$pg_url" -qc "CREATE DATABASE $name" >/dev/null
    database="${pg_url%/*}/$name"
  fi
  taskset -c 1 target/release/soak-bench --database "$database" --minutes "$minutes" --server-core 0
  if [ "$backend" = postgres ]; then psql "$pg_url" -qc "DROP DATABASE ${database##*/}" >/dev/null; fi
done
