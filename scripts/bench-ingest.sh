#!/usr/bin/env bash
# make bench-ingest (issue 18 goal 4): a fresh server on the embedded default
# (server defaults: validation and audit on) ingests about a million
# resources, timed, and in the same run PostgreSQL COPYs the same rows (the
# same JSON documents, one COPY and one transaction per bundle, at the same
# concurrency) into a plain (id text primary key, resource jsonb) table on
# the same cluster, timed. fhirbench --ingest-only prints both rates and
# the ratio ingest time / COPY time (goal <= 6) on one line, "INGEST
# SUMMARY", with the ingest concurrency, and the server's peak resident set
# during the ingest (--server-pid).
#
# What is loaded: the 2 provider bundles (0-*) and one warm-up copy of the
# 17 synthea-blaze patient bundles, untimed on both sides; then
# BENCH_INGEST_COPIES copies (default 87: 87 x 11,536 = 1,003,632
# resources) of the patient bundles with fresh ids, timed; the COPY covers
# exactly the rows of these timed bundles.
#
# Knobs: BENCH_INGEST_COPIES (87), BENCH_INGEST_CONCURRENCY (bundles posted
# in parallel, and COPYs; default 4), BENCH_FIXTURES, BENCH_PORT (18081),
# BENCH_JSON (where the JSON goes; default a new /tmp/fhirbench-ingest-*.json).
# Extra arguments go to fhirbench.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

bench_start_server 18081
out=${BENCH_JSON:-$(mktemp /tmp/fhirbench-ingest-XXXXXX.json)}

bin/fhirbench \
  --base "http://$addr/fhir" \
  --client-id bench \
  --fixtures "${BENCH_FIXTURES:-../shared/fixtures/synthea-blaze}" \
  --ingest-only \
  --copies "${BENCH_INGEST_COPIES:-87}" \
  --warmup-copies 1 \
  --ingest-concurrency "${BENCH_INGEST_CONCURRENCY:-4}" \
  --database-url "$dburl" \
  --server-pid "$pid" \
  --timeout 4h \
  --json "$out" "$@"
echo "results: $out"
