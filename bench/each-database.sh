#!/usr/bin/env bash
# Builds the release Gatehouse and one benchmark binary, then runs the binary on core 1
# against Gatehouse pinned to core 0, on SQLite and on a fresh PostgreSQL database (or only on
# the one named):
#   bench/each-database.sh BINARY [sqlite|postgres|""] [the binary's flags...]
# PostgreSQL: BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."
binary="$1"; only="${2:-}"; shift 2 || shift $#
pg_url="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

# Two builds, not one: built together, the benchmark's features (reqwest's cookie store) would
# be unified into the server, which is then not the server that ships.
cargo build --release -p server --bin gatehouse
cargo build --release -p bench --bin "$binary"

for backend in sqlite postgres; do
  if [ -n "$only" ] && [ "$only" != "$backend" ]; then continue; fi
  database=sqlite
  if [ "$backend" = postgres ]; then
    name="gh_bench_$RANDOM$RANDOM"
    psql "$pg_url" -qc "CREATE DATABASE $name" >/dev/null
    database="${pg_url%/*}/$name"
  fi
  taskset -c 1 "target/release/$binary" --database "$database" --server-core 0 "$@"
  if [ "$backend" = postgres ]; then psql "$pg_url" -qc "DROP DATABASE ${database##*/}" >/dev/null; fi
done
