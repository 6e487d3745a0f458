# Sourced by the bench scripts (bench.sh, bench-ingest.sh, bench-scale.sh):
# bench_start_server starts `fhirserver serve` on a fresh embedded cluster
# in a new temporary directory, with the server's defaults (validation and
# audit on) and a client "bench" allowed system/*.*. It sets:
#   dir    the temporary directory (removed on exit)
#   addr   host:port the server listens on (BENCH_PORT, else $1)
#   pid    the server's process id, for fhirbench --server-pid
#   dburl  the embedded cluster's connection string, for the COPY floor
# and stops the server and removes dir when the script exits. BENCH_SERVER
# names the server binary (default bin/fhirserver), e.g. one built from
# another commit for an A/B on the same machine. BENCH_KEEP_DATA=1 keeps
# dir (its data directory holds the loaded cluster: start a server on it
# with `fhirserver serve --data-dir DIR/data`), e.g. to measure again at
# 64,000 patients without an hour of loading.

bench_cleanup() {
  if [ -n "${pid:-}" ]; then
    kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  fi
  if [ -n "${dir:-}" ]; then
    if [ "${BENCH_KEEP_DATA:-}" = 1 ]; then
      echo "kept: $dir (BENCH_KEEP_DATA=1)" >&2
    else
      rm -rf "$dir"
    fi
  fi
}

bench_start_server() {
  addr=127.0.0.1:${BENCH_PORT:-$1}
  # Another server on the port would answer the readiness check for ours.
  if curl -s -o /dev/null "http://$addr/readyz" 2>/dev/null; then
    echo "something already listens on $addr; set BENCH_PORT" >&2
    exit 1
  fi
  dir=$(mktemp -d /tmp/fhirbench.XXXXXX)
  chmod 755 "$dir"
  trap bench_cleanup EXIT
  server=${BENCH_SERVER:-bin/fhirserver}
  "$server" clients add --data-dir "$dir/data" --id bench --secret bench-secret --scope "system/*.*" >/dev/null
  # Synthea's patients claim US Core 3.1-era profiles: they are validated in
  # full against every US Core version held, as any write is.
  "$server" serve --data-dir "$dir/data" --addr "$addr" 2>"$dir/serve.log" &
  pid=$!
  for _ in $(seq 1 300); do
    curl -sf "http://$addr/readyz" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! curl -sf "http://$addr/readyz" >/dev/null || ! kill -0 "$pid" 2>/dev/null; then
    echo "server did not start" >&2
    cat "$dir/serve.log" >&2
    exit 1
  fi
  dburl="host=$dir/data/run port=5432 user=postgres dbname=fhir sslmode=disable"
  export FHIRBENCH_CLIENT_SECRET=bench-secret
}
