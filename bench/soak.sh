#!/usr/bin/env bash
# The soak: sign-ins at half of the measured peak, with an operator reading the console every
# second, for ten minutes on SQLite and on PostgreSQL (bench/each-database.sh). Prints memory,
# open files and the database's size every minute.
#   bench/soak.sh                  # 10 minutes each
#   SOAK_MINUTES=2 bench/soak.sh sqlite
exec "$(dirname "$0")/each-database.sh" soak-bench "${1:-}" --minutes "${SOAK_MINUTES:-10}"
