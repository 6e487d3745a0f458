#!/usr/bin/env bash
# make bench-scale (issue 18 goal 5): do searches stay as fast as the data
# grows? A fresh server on the embedded default (validation and audit on)
# loads the provider bundles and 1,000 patients, runs the searches
# (patient+code, patient+category+date, name prefix, _include,
# $everything) at c=1 and c=16 against the server alone, then loads more
# patients into the same server up to 64,000 and runs the same searches
# again. fhirbench --scale-patients prints, per kind and level, the
# searches/s at both counts, their ratio (goal >= 0.80) and p50/p99 at
# both; the data set at each count (patients, resources, pg_database_size
# after VACUUM (ANALYZE)); and the server's peak resident set in each phase.
#
# The floor of this machine, and why the patients are trimmed: the
# synthea-blaze patients average about 680 resources each (11,536 in 17),
# so 64,000 whole patients are about 43.5 million resources. At about 8 GB
# a million resources on disk (resource_version and the search index
# tables, docs/benchmarks.md), that is some 350 GB against the 80 GB free
# here, and about 2.5 hours of ingest at 5,000 resources/s. So every
# patient copy is trimmed to the same fixed subset at both counts (only the
# number of patients changes): its Patient, its first 4 Encounters and first
# 32 Observations, and whatever those refer to inside the bundle (an
# Observation's Encounter), while the references the searches and
# _include follow stay intact (Observation.subject, Encounter.subject, and
# Encounter.serviceProvider/participant to the shared provider bundles,
# which are loaded whole). On the synthea-blaze patients that is 36 to 48
# resources a patient, 39.1 on average: 64,000 patients are about 2.5
# million resources. Each copy has fresh ids (random UUIDs), so the
# searches' sample (the first 1,000 Observations and Patients by id) is
# drawn across all the patients loaded at each count.
#
# Knobs: BENCH_SCALE_PATIENTS (cumulative counts, "1000,64000"; a smoke run:
# "50,400"), BENCH_SCALE_PER_PATIENT ("Encounter=4,Observation=32"),
# BENCH_SCALE_BATCH (trimmed patients per transaction Bundle, 10),
# BENCH_SCALE_CONCURRENCY (search levels, "1,16"), BENCH_SCALE_SEARCHES
# (searches of each kind per level, 500), BENCH_SCALE_PASSES (how many times
# each step's searches run, 3: each kind and level is compared by its median
# pass, since this machine drifts between runs minutes apart), BENCH_SCALE_EVERYTHING
# ($everything reads per level, 10), BENCH_INGEST_CONCURRENCY (4),
# BENCH_FIXTURES, BENCH_PORT (18082), BENCH_JSON (default a new
# /tmp/fhirbench-scale-*.json). Extra arguments go to fhirbench.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

bench_start_server 18082
out=${BENCH_JSON:-$(mktemp /tmp/fhirbench-scale-XXXXXX.json)}
echo "data directory $dir: $(df -h --output=avail "$dir" | tail -1 | tr -d ' ') free"

bin/fhirbench \
  --base "http://$addr/fhir" \
  --client-id bench \
  --fixtures "${BENCH_FIXTURES:-../shared/fixtures/synthea-blaze}" \
  --scale-patients "${BENCH_SCALE_PATIENTS:-1000,64000}" \
  --scale-per-patient "${BENCH_SCALE_PER_PATIENT:-Encounter=4,Observation=32}" \
  --scale-batch "${BENCH_SCALE_BATCH:-10}" \
  --ingest-concurrency "${BENCH_INGEST_CONCURRENCY:-4}" \
  --search-concurrency "${BENCH_SCALE_CONCURRENCY:-1,16}" \
  --search-reads "${BENCH_SCALE_SEARCHES:-500}" \
  --scale-passes "${BENCH_SCALE_PASSES:-3}" \
  --everything-reads "${BENCH_SCALE_EVERYTHING:-10}" \
  --database-url "$dburl" \
  --server-pid "$pid" \
  --timeout 12h \
  --json "$out" "$@"
echo "results: $out"
