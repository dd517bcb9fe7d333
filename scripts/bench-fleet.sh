#!/usr/bin/env bash
# Benchmark: fleet ingest with vt-loadgen against a vt-server it starts itself, once on
# SQLite (temporary data directory) and once on PostgreSQL (a fresh database, dropped
# afterwards). Prints the load average, both result lines and the issue #4 targets.
#
# Usage: scripts/bench-fleet.sh [--agents N] [--results-per-run R] [--runs-per-agent K]
#                               [--concurrency C] [--only sqlite|postgres]
# Environment: PG_URL (default postgres://postgres@127.0.0.1:5432), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

agents=1000
results=100
runs=1
concurrency=64
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --agents) agents="$2"; shift 2 ;;
    --results-per-run) results="$2"; shift 2 ;;
    --runs-per-agent) runs="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    *) echo "usage: $0 [--agents N] [--results-per-run R] [--runs-per-agent K] [--concurrency C] [--only sqlite|postgres]" >&2; exit 2 ;;
  esac
done
pg_url="${PG_URL:-postgres://postgres@127.0.0.1:5432}"

cargo build --release -q -p vt-server -p vt-loadgen --bins
bin="${CARGO_TARGET_DIR:-target}/release"

common=(--agents "$agents" --results-per-run "$results" --runs-per-agent "$runs"
        --concurrency "$concurrency" --duration-limit 300
        --start-server --server-bin "$bin/vt-server")

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release && echo "$PRETTY_NAME")"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

summaries=()
status=0

run_one() { # name, extra args...
  local name="$1"; shift
  echo
  echo "== $name: $agents agents x $results results, $runs run(s) each, concurrency $concurrency"
  local out
  # vt-loadgen exits 1 when a submission failed; keep going so both figures print.
  out=$("$bin/vt-loadgen" "${common[@]}" "$@") || status=1
  echo "$out"
  summaries+=("$(grep '^SUMMARY' <<<"$out" || echo "SUMMARY backend=$name failed")")
}

if [ "$only" != "postgres" ]; then
  run_one sqlite
fi

if [ "$only" != "sqlite" ]; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "PostgreSQL is down; starting it"
    pg_ctlcluster "$(ls /etc/postgresql)" main start
    sleep 2
  fi
  db="vt_bench_$(date +%s)_$$"
  psql "$pg_url/postgres" -qc "CREATE DATABASE $db"
  trap 'psql "$pg_url/postgres" -qc "DROP DATABASE IF EXISTS $db" || true' EXIT
  run_one postgres --database-url "$pg_url/$db"
fi

echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "targets (issue #4): PostgreSQL >= 20000 results/s with p99 < 500 ms; SQLite >= 10000 results/s"
for s in "${summaries[@]}"; do
  backend=$(sed -n 's/.*backend=\([a-z]*\).*/\1/p' <<<"$s")
  rate=$(sed -n 's/.*results_per_s=\([0-9.]*\).*/\1/p' <<<"$s")
  p99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<<"$s")
  verdict=$(awk -v b="$backend" -v r="${rate:-0}" -v p="${p99:-0}" 'BEGIN {
    if (b == "postgres") ok = (r >= 20000 && p < 500); else ok = (r >= 10000);
    print ok ? "met" : "MISSED" }')
  printf '%-8s %8s results/s  p99 %7s ms  target %s\n' "$backend" "${rate:-?}" "${p99:-?}" "$verdict"
done
exit "$status"
