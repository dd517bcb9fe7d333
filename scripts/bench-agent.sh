#!/usr/bin/env bash
# Benchmark: the agent in fleet mode against a local vt-server (SQLite, loopback).
# Prints the wall time and peak RSS of `vt-agent run --once` (audit of the Linux baseline
# plus submission over mTLS; median of N runs) and the agent's resident memory while idle
# between audits in `vt-agent run`.
# Usage: scripts/bench-agent.sh [--runs N]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=5
[ "${1:-}" = "--runs" ] && runs="$2"

cargo build --release -q -p vt-agent -p vt-server
bin=target/release
work=$(mktemp -d)
server_pid=""
agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
agent_port=$(port); dash_port=$(port)
"$bin/vt-server" serve --data-dir "$work/server" --agent-listen "127.0.0.1:$agent_port" \
  --dashboard-listen "127.0.0.1:$dash_port" --agent-url "https://127.0.0.1:$agent_port" \
  >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  [ -f "$work/server/ca/root.crt" ] && curl -sf --cacert "$work/server/ca/root.crt" "https://127.0.0.1:$dash_port/ready" >/dev/null && break
  sleep 0.2
done

token=$("$bin/vt-server" token create --data-dir "$work/server" | tail -n 1)
agent=("$bin/vt-agent")
common=(--data-dir "$work/agent" --config "$work/agent.toml")
: >"$work/agent.toml"
export VT_AUDIT_MACHINE_ID=bench-agent-0001
"${agent[@]}" enroll --server "https://127.0.0.1:$agent_port" --token "$token" "${common[@]}" >/dev/null

times=$(mktemp -p "$work")
for _ in $(seq "$runs"); do
  /usr/bin/time -o "$work/t" -f "%e %M" "${agent[@]}" run --once "${common[@]}" >/dev/null 2>&1
  tail -n 1 "$work/t" >>"$times"
done
rules=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["last_run"]["summary"]["total"])' "$work/agent/state.json")
sort -n -k1 "$times" | awk -v runs="$runs" -v rules="$rules" '
  { t[NR] = $1; if ($2 > rss) rss = $2 }
  END {
    med = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
    printf "vt-agent run --once (%d rules, audit + mTLS submit): median wall %.0f ms over %d runs, peak RSS %.1f MB\n", rules, med * 1000, runs, rss / 1024
  }'

# Idle: the loop has audited once and sleeps until the next interval.
before=$(stat -c %Y.%N "$work/agent/state.json" 2>/dev/null || echo none)
sleep 1
"${agent[@]}" run "${common[@]}" >/dev/null 2>&1 &
agent_pid=$!
# The first cycle ends when state.json is rewritten.
for _ in $(seq 150); do
  [ "$(stat -c %Y.%N "$work/agent/state.json")" != "$before" ] && break
  sleep 0.2
done
sleep 2
idle=$(awk '/VmRSS/ {print $2}' "/proc/$agent_pid/status")
awk -v k="$idle" 'BEGIN { printf "vt-agent run, idle between audits: RSS %.1f MB\n", k / 1024 }'
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(. /etc/os-release && echo "$PRETTY_NAME"), load $(cut -d' ' -f1-3 /proc/loadavg)"
