#!/usr/bin/env bash
# The SAML sign-in benchmark beside the OpenID Connect one: complete sign-ins (start →
# provider → Reply URL → the same-site GET → session) against a release Gatehouse pinned to
# core 0, with the benchmark's fast provider (which signs a SAML response with libxmlsec1, or an
# ID token) and the load on core 1: OpenID Connect, SAML, then OpenID Connect again, so each
# SAML figure sits between two OpenID Connect figures measured minutes apart.
#   bench/saml.sh                  # 30 s per run, SQLite and PostgreSQL
#   SECONDS_PER_RUN=10 bench/saml.sh sqlite
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${SECONDS_PER_RUN:-30}"
only="${1:-}"
for protocol in oidc saml oidc; do
  echo "== $protocol"
  bench/each-database.sh sign-in-bench "$only" --users 4 --seconds "$seconds" --protocol "$protocol"
done
