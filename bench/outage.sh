#!/usr/bin/env bash
# The outage benchmark: Fabrikam's directory hangs while Contoso's people sign in, on SQLite
# and on PostgreSQL, against a release Gatehouse pinned to core 0 (the load on core 1).
#   bench/outage.sh            # 20 s before the outage and 20 s of it
#   SECONDS_PER_PHASE=60 bench/outage.sh sqlite
# PostgreSQL: BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${SECONDS_PER_PHASE:-20}"
only="${1:-}"
pg_url="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

cargo build --release -p server --bin gatehouse
cargo build --release -p bench --bin outage-bench

for backend in sqlite postgres; do
  if [ -n "$only" ] && [ "$only" != "$backend" ]; then continue; fi
  database=sqlite
  if [ "$backend" = postgres ]; then
    name="gh_bench_$RANDOM$RANDOM"
    psql "$pg_url" -qc "CREATE DATABASE $name" >/dev/null
    database="${pg_url%/*}/$name"
  fi
  taskset -c 1 target/release/outage-bench --database "$database" --seconds "$seconds" --server-core 0
  if [ "$backend" = postgres ]; then psql "$pg_url" -qc "DROP DATABASE ${database##*/}" >/dev/null; fi
done
