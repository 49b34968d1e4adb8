#!/usr/bin/env bash
# The sign-in benchmark: complete sign-ins against a release Gatehouse pinned to core 0, with
# the fast provider and the load on core 1, on SQLite and on PostgreSQL, at 4 and 32 users.
#   bench/run.sh                 # 30 s per scenario
#   SECONDS_PER_RUN=300 BENCH_MEMORY_CURVE=1 bench/run.sh sqlite-4   # the 5-minute memory run
# PostgreSQL: BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); each run
# uses a fresh database created there.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${SECONDS_PER_RUN:-30}"
only="${1:-}"
pg_url="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

# Two builds, not one: built together, the benchmark's features (reqwest's cookie store) would
# be unified into the server, which is then not the server that ships.
cargo build --release -p server --bin gatehouse
cargo build --release -p bench --bin sign-in-bench

fresh_pg() {
  local name="gh_bench_$RANDOM$RANDOM"
  psql "$pg_url" -qc "CREATE DATABASE $name" >/dev/null
  echo "${pg_url%/*}/$name"
}

for scenario in sqlite-4 sqlite-32 postgres-4 postgres-32; do
  if [ -n "$only" ] && [ "$only" != "$scenario" ]; then continue; fi
  backend="${scenario%-*}"; users="${scenario#*-}"
  database=sqlite
  if [ "$backend" = postgres ]; then database="$(fresh_pg)"; fi
  taskset -c 1 target/release/sign-in-bench --database "$database" --users "$users" \
    --seconds "$seconds" --server-core 0
  if [ "$backend" = postgres ]; then psql "$pg_url" -qc "DROP DATABASE ${database##*/}" >/dev/null; fi
done
