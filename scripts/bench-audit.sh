#!/usr/bin/env bash
# Benchmark: `vt-agent audit` with the shipped Linux baseline on this machine.
# Prints the median wall time and peak RSS over N runs (default 20), and with
# --with-lynis one run of `lynis audit system --quick` measured the same way.
# Usage: scripts/bench-audit.sh [--runs N] [--with-lynis]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=20
with_lynis=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --with-lynis) with_lynis=1; shift ;;
    *) echo "usage: $0 [--runs N] [--with-lynis]" >&2; exit 2 ;;
  esac
done

need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need /usr/bin/time time

cargo build --release -q -p vt-agent
agent=target/release/vt-agent
policy=policies/linux-baseline.yml

# /usr/bin/time -f "%e %M": elapsed seconds and peak RSS in KiB.
measure() {
  local t
  t=$(mktemp)
  # The audit exits 1 when rules fail; that is a finding, not a benchmark error.
  /usr/bin/time -o "$t" -f "%e %M" "$@" >/dev/null 2>&1 || true
  tail -n 1 "$t"
  rm -f "$t"
}

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$agent" audit --policy "$policy" --format json >/dev/null 2>&1 || true  # warm the page cache
for _ in $(seq "$runs"); do
  measure "$agent" audit --policy "$policy" --format json >>"$tmp"
done
rules=$("$agent" policy check "$policy" | sed -n 's/.* \([0-9]*\) rules.*/\1/p')
sort -n -k1 "$tmp" | awk -v runs="$runs" -v rules="$rules" '
  { t[NR] = $1; if ($2 > rss) rss = $2 }
  END {
    med = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
    printf "vt-agent audit (%d rules): median wall %.0f ms over %d runs, peak RSS %.1f MB\n", rules, med * 1000, runs, rss / 1024
  }'

if [ "$with_lynis" = 1 ]; then
  need lynis lynis
  read -r secs kib < <(measure lynis audit system --quick --no-colors)
  tests=$(sed -n 's/^lynis_tests_done=//p' /var/log/lynis-report.dat 2>/dev/null | tail -n 1)
  awk -v s="$secs" -v k="$kib" -v n="$tests" 'BEGIN { printf "lynis audit system --quick (%s tests run): wall %.1f s, peak RSS %.1f MB\n", n, s, k / 1024 }'
fi
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(. /etc/os-release && echo "$PRETTY_NAME")"
