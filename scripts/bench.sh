#!/usr/bin/env bash
# make bench: a fresh server on the embedded default, loaded and read by
# fhirbench, with the physical floor (bare pgx lookups, COPY) measured in the
# same run against the same PostgreSQL cluster, and the server's resident
# set sampled for each phase (--server-pid).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

bench_start_server 18080
# The JSON outlives the run (the temporary directory does not).
out=${BENCH_JSON:-$(mktemp /tmp/fhirbench-results-XXXXXX.json)}

bin/fhirbench \
  --base "http://$addr/fhir" \
  --client-id bench \
  --fixtures "${BENCH_FIXTURES:-../shared/fixtures/synthea-blaze}" \
  --copies "${BENCH_COPIES:-3}" \
  --concurrency 1,16,64 \
  --reads "${BENCH_READS:-2000}" \
  --database-url "$dburl" \
  --server-pid "$pid" \
  --json "$out" "$@"
echo "results: $out"
