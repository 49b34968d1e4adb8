#!/usr/bin/env bash
# The outage benchmark: Fabrikam's directory hangs while Contoso's people sign in, on SQLite
# and on PostgreSQL (bench/each-database.sh).
#   bench/outage.sh            # 20 s before the outage and 20 s of it
#   SECONDS_PER_PHASE=60 bench/outage.sh sqlite
exec "$(dirname "$0")/each-database.sh" outage-bench "${1:-}" --seconds "${SECONDS_PER_PHASE:-20}"
