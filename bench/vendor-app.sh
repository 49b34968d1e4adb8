#!/usr/bin/env bash
# The vendor-app benchmark: a vendor's application signs in a person who already has a session
# at the provider (authorize → code → token → userinfo), against a release Gatehouse pinned to
# core 0, then right after against the oidc-provider peer (end2end/peers/oidc-provider-peer.mjs,
# ES256 like Gatehouse) pinned the same way; the load runs on core 1. SQLite and PostgreSQL, 4
# and 32 users.
#   bench/vendor-app.sh                  # 20 s per run
#   SECONDS_PER_RUN=10 bench/vendor-app.sh sqlite-4
# PostgreSQL: BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); each run
# uses a fresh database created there.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${SECONDS_PER_RUN:-20}"
only="${1:-}"
pg_url="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
peer_port="${PEER_PORT:-9600}"

cargo build --release -p server --bin gatehouse
cargo build --release -p bench --bin vendor-app-bench
if [ ! -d end2end/node_modules/oidc-provider ]; then (cd end2end && npm ci --no-audit --no-fund); fi

fresh_pg() {
  local name="gh_bench_$RANDOM$RANDOM"
  psql "$pg_url" -qc "CREATE DATABASE $name" >/dev/null
  echo "${pg_url%/*}/$name"
}

peer() {
  local users=$1 alg=$2
  PORT=$peer_port PEER_ALG=$alg taskset -c 0 node end2end/peers/oidc-provider-peer.mjs >/tmp/oidc-provider-peer.log 2>&1 &
  local pid=$!
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$peer_port/.well-known/openid-configuration" && break; sleep 0.2; done
  taskset -c 1 target/release/vendor-app-bench --peer-url "http://127.0.0.1:$peer_port" --peer-pid "$pid" \
    --users "$users" --seconds "$seconds" || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

for scenario in sqlite-4 sqlite-32 postgres-4 postgres-32; do
  if [ -n "$only" ] && [ "$only" != "$scenario" ]; then continue; fi
  backend="${scenario%-*}"; users="${scenario#*-}"
  database=sqlite
  if [ "$backend" = postgres ]; then database="$(fresh_pg)"; fi
  taskset -c 1 target/release/vendor-app-bench --database "$database" --users "$users" \
    --seconds "$seconds" --server-core 0
  if [ "$backend" = postgres ]; then psql "$pg_url" -qc "DROP DATABASE ${database##*/}" >/dev/null; fi
  peer "$users" ES256
done
if [ -z "$only" ] || [ "$only" = rs256 ]; then
  # Both signing RS256 (one RSA-2048 signature costs about a millisecond here), on SQLite.
  taskset -c 1 target/release/vendor-app-bench --database sqlite --users 4 --seconds "$seconds" \
    --server-core 0 --signing-alg RS256
  peer 4 RS256
fi
