#!/usr/bin/env bash
# Benchmark: the Windows baseline under Wine, 5 runs, median wall time and peak RSS.
#
#   scripts/bench-windows.sh [RUNS]
#
# Builds vt-agent.exe (scripts/windows.sh build), creates a fresh Wine prefix (its ~10 s
# creation and the first run's Wine warm-up are excluded: one untimed warm-up run comes
# first), then times `vt-agent.exe audit --policy policies/windows-baseline.yml --format json`
# with /usr/bin/time -v. Peak RSS is the agent process's (Wine runs the .exe in the
# process /usr/bin/time waits for; the shared wineserver is not counted).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${1:-5}"
"$ROOT/scripts/windows.sh" build >/dev/null 2>"$(mktemp)" || { echo "bench-windows.sh: build failed (run scripts/windows.sh build)" >&2; exit 1; }
EXE="${VT_WINDOWS_TARGET_DIR:-$ROOT/target-windows}/x86_64-pc-windows-gnu/release/vt-agent.exe"
POLICY="Z:$(echo "$ROOT/policies/windows-baseline.yml" | tr / '\\')"
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }

prefix="$(mktemp -d /tmp/vt-wineprefix.XXXXXX)"
work="$(mktemp -d)"
trap 'wineserver -k >/dev/null 2>&1 || true; rm -rf "$prefix" "$work"' EXIT
export WINEPREFIX="$prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
wineserver -p
timeout 120 wineboot -i >/dev/null 2>&1 || true
rules=$(grep -c '^  - id:' "$ROOT/policies/windows-baseline.yml")

# Warm-up (untimed): loads Wine's DLLs into the page cache and starts wineserver.
timeout 300 wine "$EXE" audit --policy "$POLICY" --format json >/dev/null 2>&1 || true

for i in $(seq 1 "$RUNS"); do
    timeout 300 /usr/bin/time -v -o "$work/time.$i" wine "$EXE" audit --policy "$POLICY" --format json \
        >"$work/report.$i.json" 2>/dev/null || true
done

python3 - "$work" "$RUNS" "$rules" <<'PY'
import json, re, statistics, sys
work, runs, rules = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
walls, rss = [], []
for i in range(1, runs + 1):
    text = open(f"{work}/time.{i}").read()
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", text)
    h, mnt, s = int(m.group(1) or 0), int(m.group(2)), float(m.group(3))
    walls.append(h * 3600 + mnt * 60 + s)
    rss.append(int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)))
report = json.load(open(f"{work}/report.{runs}.json"))
summary = {}
for r in report["results"]:
    summary[r["status"]] = summary.get(r["status"], 0) + 1
print(f"rules: {rules}  results: {len(report['results'])}  statuses: {summary}")
print(f"wall seconds per run: {', '.join(f'{w:.2f}' for w in walls)}")
print(f"median wall: {statistics.median(walls):.2f} s   median peak RSS: {statistics.median(rss) / 1024:.1f} MiB (max {max(rss) / 1024:.1f} MiB)")
PY
