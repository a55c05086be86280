#!/usr/bin/env bash
# Measures the agent's footprint (docs/agent-footprint.md): release binary
# size, RSS and CPU of `onshi-agent run --interval 60` reporting to a local
# release server over mTLS, for MINUTES minutes (default 10).
#   scripts/agent-footprint.sh [MINUTES]
# Needs PostgreSQL (ONSHI_TEST_DATABASE_URL, default the local one); builds
# the agent with its shipping profile (`agent`) and the server with `release`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/footprint-server.sh
minutes=${1:-10}
target=${CARGO_TARGET_DIR:-target}
admin_url=${ONSHI_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=onshi_footprint_$$
work=$(mktemp -d)
cleanup() {
  [ -n "${agent_pid:-}" ] && kill "$agent_pid" 2>/dev/null || true
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --profile agent -q -p onshi-agent
cargo build --release -q -p onshi-server
agent_bin=$target/agent/onshi-agent
server_bin=$target/release/onshi-server
echo "binary: $(stat -c %s "$agent_bin") bytes ($(numfmt --to=iec "$(stat -c %s "$agent_bin")"))  $agent_bin"

start_footprint_server
"$agent_bin" enroll --server https://127.0.0.1:$port --token "$token" --ca-fingerprint "$fp" \
  --state-dir "$work/agent" >/dev/null
: >"$work/agent.toml"

ONSHI_LOG=warn "$agent_bin" --config "$work/agent.toml" run --server https://127.0.0.1:$port \
  --site-id fp-site --state-dir "$work/agent" --interval 60 --target server=127.0.0.1:$port &
agent_pid=$!
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$agent_pid/stat"; }
rss() { awk '/^VmRSS/{print $2}' "/proc/$agent_pid/status"; }

sleep 60 # start-up, first report, TLS handshake
c0=$(cpu); t0=$(date +%s.%N)
echo "t=60s: VmRSS $(rss) kB"
for m in $(seq "$minutes"); do
  sleep 60
  echo "t=$((60 + 60 * m))s: VmRSS $(rss) kB  CPU ticks $(( $(cpu) - c0 ))"
done
c1=$(cpu); t1=$(date +%s.%N)
hwm=$(awk '/^VmHWM/{print $2}' "/proc/$agent_pid/status")
grep -E '^(VmRSS|RssAnon|RssFile|RssShmem|Threads)' "/proc/$agent_pid/status" | tr -s ' \t' ' ' | paste -sd ' ' -
reports=$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM report_history")
python3 - "$c0" "$c1" "$t0" "$t1" "$ticks" "$hwm" "$reports" <<'PY'
import sys
c0, c1, t0, t1, hz, hwm, n = (float(x) for x in sys.argv[1:])
cpu = (c1 - c0) / hz
wall = t1 - t0
print(f"CPU {cpu:.2f} s over {wall:.0f} s = {100 * cpu / wall:.4f} %  (peak RSS {hwm:.0f} kB, {n:.0f} reports stored)")
PY
