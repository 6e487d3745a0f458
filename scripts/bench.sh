#!/usr/bin/env bash
# make bench: a fresh server on the embedded default, loaded and read by
# fhirbench, with the physical floor (bare pgx lookups, COPY) measured in the
# same run against the same PostgreSQL cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=$(mktemp -d /tmp/fhirbench.XXXXXX)
chmod 755 "$dir"
addr=127.0.0.1:${BENCH_PORT:-18080}
out=${BENCH_JSON:-$dir/results.json}
cleanup() {
  [ -n "${pid:-}" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

bin/fhirserver clients add --data-dir "$dir/data" --id bench --secret bench-secret --scope "system/*.*" >/dev/null
# Synthea's patients claim US Core 3.1-era profiles: they are validated in
# full against every US Core version held, as any write is.
bin/fhirserver serve --data-dir "$dir/data" --addr "$addr" 2>"$dir/serve.log" &
pid=$!
for _ in $(seq 1 300); do
  curl -sf "http://$addr/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://$addr/readyz" >/dev/null || { echo "server did not start"; cat "$dir/serve.log"; exit 1; }

bin/fhirbench \
  --base "http://$addr/fhir" \
  --client-id bench --client-secret bench-secret \
  --fixtures "${BENCH_FIXTURES:-../shared/fixtures/synthea-blaze}" \
  --copies "${BENCH_COPIES:-3}" \
  --concurrency 1,16,64 \
  --reads "${BENCH_READS:-2000}" \
  --database-url "host=$dir/data/run port=5432 user=postgres dbname=fhir sslmode=disable" \
  --json "$out" "$@"
echo "results: $out"
