#!/usr/bin/env bash
# The SAML sign-in benchmark beside the OpenID Connect one: complete sign-ins (start →
# provider → Reply URL → the same-site GET → session) against a release Gatehouse pinned to
# core 0, with the benchmark's fast provider (which signs a SAML response with libxmlsec1, or an
# ID token) and the load on core 1. On each database: OpenID Connect, SAML, OpenID Connect
# again, so each SAML figure sits between two OpenID Connect figures of the same minute.
#   bench/saml.sh                  # 30 s per run
#   SECONDS_PER_RUN=10 bench/saml.sh sqlite
# PostgreSQL: BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); each run
# uses a fresh database created there.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${SECONDS_PER_RUN:-30}"
only="${1:-}"
pg_url="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

cargo build --release -p server --bin gatehouse
cargo build --release -p bench --bin sign-in-bench

fresh_pg() {
  local name="gh_bench_$RANDOM$RANDOM"
  psql "$pg_url" -qc "CREATE DATABASE $name" >/dev/null
  echo "${pg_url%/*}/$name"
}

for backend in sqlite postgres; do
  if [ -n "$only" ] && [ "$only" != "$backend" ]; then continue; fi
  for protocol in oidc saml oidc; do
    database=sqlite
    if [ "$backend" = postgres ]; then database="$(fresh_pg)"; fi
    printf '%-4s ' "$protocol"
    taskset -c 1 target/release/sign-in-bench --database "$database" --users 4 \
      --seconds "$seconds" --server-core 0 --protocol "$protocol"
    if [ "$backend" = postgres ]; then psql "$pg_url" -qc "DROP DATABASE ${database##*/}" >/dev/null; fi
  done
done
