#!/usr/bin/env bash
# Measures the WINDOWS agent (onshi-agent.exe, shipping profile `agent`,
# native Win32 collectors) under Wine: CPU per probe cycle and CPU at the
# default 60 s interval, reporting to a local release server over mTLS.
# Wine is not Windows (docs/agent-footprint.md says what that means for the
# figures); the point is to measure the same code path the PC runs.
#   scripts/agent-footprint-wine.sh [MINUTES]      (default 10)
# Needs: rustup target x86_64-pc-windows-gnu, gcc-mingw-w64-x86-64, wine64,
# PostgreSQL (ONSHI_TEST_DATABASE_URL, default the local one).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/footprint-server.sh
minutes=${1:-10}
target=${CARGO_TARGET_DIR:-target}
wine=${WINE:-/usr/lib/wine/wine64}
[ -x "$wine" ] || wine=$(command -v wine64 || command -v wine)
admin_url=${ONSHI_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=onshi_footprint_wine_$$
work=$(mktemp -d)
export WINEPREFIX=$work/wineprefix WINEDEBUG=-all
cleanup() {
  [ -n "${agent_pid:-}" ] && kill "$agent_pid" 2>/dev/null || true
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  "${wineserver:-wineserver}" -k 2>/dev/null || true
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --profile agent -q -p onshi-agent --target x86_64-pc-windows-gnu
cargo build --release -q -p onshi-server
exe_dir=$target/x86_64-pc-windows-gnu/agent
exe=$exe_dir/onshi-agent.exe
# Rust's std needs ProcessPrng from bcryptprimitives.dll, which Windows 10/11
# have and Wine 8 lacks: the test shim (tests/wine/) goes next to the exe.
x86_64-w64-mingw32-gcc -shared -O2 -o "$exe_dir/bcryptprimitives.dll" tests/wine/bcryptprimitives.c -ladvapi32
server_bin=$target/release/onshi-server
echo "binary: $(stat -c %s "$exe") bytes ($(numfmt --to=iec "$(stat -c %s "$exe")"))  $exe"

start_footprint_server
"$wine" wineboot -i >/dev/null 2>&1 || true
# Let the new prefix settle (its services start and stop) before measuring.
wineserver=$(dirname "$wine")/wineserver
[ -x "$wineserver" ] || wineserver=wineserver
"$wineserver" -w 2>/dev/null || true
"$wine" "$exe" enroll --server https://127.0.0.1:$port --token "$token" --ca-fingerprint "$fp" \
  --state-dir "Z:$work/agent" >/dev/null

ticks=$(getconf CLK_TCK)
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The wineserver of this run's prefix (Wine starts one per prefix).
wineserver_pid() {
  for p in $(pgrep -f wineserver); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "WINEPREFIX=$WINEPREFIX" && { echo "$p"; return; }
  done
  pgrep -n -f wineserver
}

# run_for SECONDS CONFIG ARGS...: runs the agent, prints "agent_ticks server_ticks reports".
run_for() {
  local secs=$1 config=$2; shift 2
  printf '%s\n' "$config" >"$work/agent.toml"
  ONSHI_LOG=warn "$wine" "$exe" --config "Z:$work/agent.toml" run --server https://127.0.0.1:$port \
    --site-id fp-site --state-dir "Z:$work/agent" --target server=127.0.0.1:$port "$@" \
    2>>"$work/agent.log" &
  agent_pid=$!
  sleep 20 # Wine start-up, first collection (slow probes), TLS handshake
  local pid ws c0 w0 before
  # The Windows process of this run (its state directory is unique to it).
  pid=$(pgrep -n -f "onshi-agent.exe.*$work/agent")
  ws=$(wineserver_pid)
  before=$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM report_history")
  c0=$(cpu_of "$pid"); w0=$(cpu_of "$ws")
  sleep "$secs"
  local c1 w1 after
  c1=$(cpu_of "$pid"); w1=$(cpu_of "$ws")
  after=$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM report_history")
  echo "VmRSS of the Wine process: $(awk '/^VmRSS/{print $2}' "/proc/$pid/status") kB" >&2
  kill "$agent_pid" 2>/dev/null; wait "$agent_pid" 2>/dev/null || true
  agent_pid=
  echo "$((c1 - c0)) $((w1 - w0)) $((after - before))"
}

report() { # label secs agent_ticks server_ticks reports
  python3 - "$@" "$ticks" <<'PY'
import sys
label, secs, a, w, n, hz = sys.argv[1], *map(float, sys.argv[2:])
cpu, ws = a / hz, w / hz
print(f"{label}: agent {cpu:.2f} s + wineserver {ws:.2f} s CPU over {secs:.0f} s = "
      f"{100 * cpu / secs:.4f} % (+{100 * ws / secs:.4f} % wineserver), {n:.0f} reports")
PY
}

echo "== every probe every 2 s for 120 s (cost of one full cycle)"
read -r a w n < <(run_for 120 $'[probes]\nslow_every = 0.0' --interval 2)
report "full cycles" 120 "$a" "$w" "$n"
python3 - "$a" "$w" "$n" "$ticks" <<'PY'
import sys
a, w, n, hz = map(float, sys.argv[1:])
print(f"per full cycle: {1000 * a / hz / max(n, 1):.1f} ms agent + {1000 * w / hz / max(n, 1):.1f} ms wineserver")
PY

echo "== idle: one collection at start, then none (interval 3600 s), for 120 s"
# What Wine's own background (services.exe, winedevice, explorer) and an idle
# agent cost wineserver: not the probes' cost, subtracted below.
read -r a w n < <(run_for 120 "" --interval 3600)
report "idle" 120 "$a" "$w" "$n"
idle_ws_per_s=$(python3 -c "print($w / 120)")

echo "== default settings, 60 s interval, for $minutes min"
read -r a w n < <(run_for $((minutes * 60)) "" --interval 60)
report "60 s interval" $((minutes * 60)) "$a" "$w" "$n"
python3 - "$a" "$w" "$idle_ws_per_s" $((minutes * 60)) "$ticks" <<'PY'
import sys
a, w, idle, secs, hz = map(float, sys.argv[1:])
probes_ws = max(w - idle * secs, 0) / hz
print(f"60 s interval, wineserver minus its idle rate: {probes_ws:.2f} s = {100 * probes_ws / secs:.4f} %; "
      f"agent + that: {100 * (a / hz + probes_ws) / secs:.4f} %")
PY
