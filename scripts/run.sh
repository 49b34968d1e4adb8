#!/usr/bin/env bash
# Builds and runs Gatehouse on an embedded SQLite database in ./data (no other service needed).
# The first start prints a one-time "First-run setup:" link that creates the first operator.
# Any GATEHOUSE_* variable or flag from `gatehouse --help` can be added, for example:
#   GATEHOUSE_PUBLIC_URL=https://sso.example.com scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-tools.sh run
scripts/build-site.sh
exec target/release/gatehouse "$@"
