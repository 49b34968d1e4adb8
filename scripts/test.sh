#!/usr/bin/env bash
# Runs every test: Rust tests on SQLite and on PostgreSQL, the identity provider's self-test,
# then the end-to-end tests in Chromium against a real Gatehouse on SQLite and on PostgreSQL.
# PostgreSQL: GATEHOUSE_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-tools.sh test
export PATH="$PWD/end2end/node_modules/.bin:$PATH"
PG_URL="${GATEHOUSE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
PG_BASE="${PG_URL%/*}"

say() { printf '\033[1m== %s\033[0m\n' "$*"; }

drop_test_databases() {
  psql "$PG_URL" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'gh\_test\_%' OR datname LIKE 'gh\_e2e\_%'" |
    while read -r db; do psql "$PG_URL" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"; done
}

if ! psql "$PG_URL" -qAtc 'SELECT 1' >/dev/null; then
  echo "PostgreSQL does not answer at $PG_URL; start it or set GATEHOUSE_TEST_POSTGRES_URL." >&2
  exit 1
fi
drop_test_databases
trap drop_test_databases EXIT

say "Rust tests on SQLite"
cargo test --workspace --exclude frontend

say "Rust tests on PostgreSQL"
GATEHOUSE_TEST_POSTGRES_URL="$PG_URL" cargo test -p server --tests

say "Identity provider self-test"
(cd end2end && node --test idp/)

say "Building the site (the server as tests build it, the WebAssembly as it ships)"
# The pages' WebAssembly as it ships (scripts/build-site.sh): the end-to-end tests load what
# people load, and page-weight.spec.js measures it.
scripts/build-site.sh --frontend-only
cargo leptos build --server-only

say "End-to-end tests on SQLite"
(cd end2end && npx playwright test)
sqlite_summary=$(node end2end/summary.js)

say "End-to-end tests on PostgreSQL"
e2e_db="gh_e2e_$(date +%s)"
psql "$PG_URL" -qc "CREATE DATABASE $e2e_db"
(cd end2end && E2E_DATABASE_URL="$PG_BASE/$e2e_db" npx playwright test)
pg_summary=$(node end2end/summary.js)

say "End-to-end tests behind nginx (TLS, two instances on PostgreSQL): wizard, automatic setup, sign-in, SAML and expiry email"
export PATH="$PATH:/usr/sbin"
nginx_db="gh_e2e_nginx_$(date +%s)"
psql "$PG_URL" -qc "CREATE DATABASE $nginx_db"
(cd end2end && E2E_PROXY=nginx E2E_DATABASE_URL="$PG_BASE/$nginx_db" \
  npx playwright test tests/wizard.spec.js tests/sign-in.spec.js tests/saml.spec.js \
    tests/sso-credential-expiry.spec.js tests/sso-automatic.spec.js tests/through-proxy.spec.js)
nginx_summary=$(node end2end/summary.js)

say "End-to-end summary"
node -e '
  const runs = process.argv.slice(1).map((s) => s.split(" ").map(Number));
  const sum = (i) => runs.reduce((total, run) => total + run[i], 0);
  console.log(`e2e: ${sum(0)} passed, ${sum(1)} failed`);
' "$sqlite_summary" "$pg_summary" "$nginx_summary"
