#!/usr/bin/env bash
# Soak test (issue 16 §4, docs/RELIABILITY.md "Soak"): the load generator at the 250,000-site
# rate (4,200 reports/s) for MINUTES minutes (default 60) against a release server on a fresh
# database, sampling every 10 s: the server's resident memory, reports committed, the incident
# evaluation queue, backends waiting on a lock, and WARN/ERROR lines in the server's log. At
# the end it prints the load generator's figures and a verdict: memory flat (the last third's
# peak within 20 % of the middle third's), no error, no refused batch, the queue bounded.
#
#   DATABASE_URL is not needed: a database onshi_soak_<pid> is created on the local
#   PostgreSQL (ONSHI_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres)
#   and dropped afterwards.
#   scripts/soak.sh [MINUTES] [RATE] [AGENTS]        # defaults 60 4200 2000
#   ONSHI_SERVER=path/to/onshi-server scripts/soak.sh 2   # a 2-minute check, given binary
# Samples go to soak-<date>.csv in the current directory (SOAK_CSV to choose).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-60}
rate=${2:-4200}
agents=${3:-2000}
admin_url=${ONSHI_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=onshi_soak_$$
db_url=${admin_url%/*}/$db
work=$(mktemp -d)
csv=${SOAK_CSV:-soak-$(date -u +%Y%m%dT%H%M%SZ).csv}
server=${ONSHI_SERVER:-}
if [ -z "$server" ]; then
  cargo build --release -q -p onshi-server
  server=${CARGO_TARGET_DIR:-target}/release/onshi-server
fi

cleanup() {
  [ -n "${lg_pid:-}" ] && kill -TERM "$lg_pid" 2>/dev/null && wait "$lg_pid" 2>/dev/null || true
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql "$admin_url" -qc "CREATE DATABASE $db"
# Every agent holds a connection in the load generator and in the server.
ulimit -n $((agents * 2 + 1024)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"

echo "soak: $minutes min at $rate reports/s from $agents agents; samples in $csv"
DATABASE_URL=$db_url ONSHI_LOG=warn "$server" loadgen --data-dir "$work/data" \
  --agents "$agents" --rate "$rate" --duration $((minutes * 60)) \
  >"$work/loadgen.out" 2>"$work/loadgen.err" &
lg_pid=$!

psql_val() { psql "$db_url" -Atc "$1" 2>/dev/null || echo 0; }
echo "seconds,server_rss_mib,reports_committed,eval_queue,lock_waiters,log_warnings,log_errors" >"$csv"
start=$(date +%s)
while kill -0 "$lg_pid" 2>/dev/null; do
  sleep 10
  now=$(( $(date +%s) - start ))
  rss=0
  for pid in $(pgrep -P "$lg_pid" -f 'onshi-server serve' || true); do
    kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    rss=$((rss + ${kb:-0} / 1024))
  done
  committed=$(psql_val "SELECT coalesce(sum(n_tup_ins), 0) FROM pg_stat_user_tables WHERE relname LIKE 'report_history%'")
  queue=$(psql_val "SELECT count(*) FROM incident_eval_queue")
  waiters=$(psql_val "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
  warnings=$(cat "$work"/data/loadgen-server-*.log 2>/dev/null | grep -c ' WARN ' || true)
  errors=$(cat "$work"/data/loadgen-server-*.log 2>/dev/null | grep -c ' ERROR ' || true)
  echo "$now,$rss,$committed,$queue,$waiters,$warnings,$errors" >>"$csv"
  printf '\r%5ss server_rss=%sMiB committed=%s eval_queue=%s lock_waiters=%s warn=%s error=%s   ' \
    "$now" "$rss" "$committed" "$queue" "$waiters" "$warnings" "$errors"
done
wait "$lg_pid" || true
lg_pid=
echo
cat "$work/loadgen.out"

# Verdict from the samples.
awk -F, -v out="$work/loadgen.out" '
  NR > 1 { n++; t[n] = $1; rss[n] = $2; q[n] = $4; err = $7; warn = $6 }
  END {
    a = int(n / 3); b = int(2 * n / 3)
    for (i = a + 1; i <= b; i++) if (rss[i] > mid) mid = rss[i]
    for (i = b + 1; i <= n; i++) if (rss[i] > last) last = rss[i]
    for (i = 1; i <= n; i++) { if (rss[i] > peak) peak = rss[i]; if (q[i] > qmax) qmax = q[i] }
    while ((getline line < out) > 0) if (line ~ /^reports=/) { split(line, f, /[ =]/); overloaded = f[8]; failed = f[6] }
    flat = (mid == 0 || last <= mid * 1.2)
    printf "server_rss_mib: peak=%d middle_third_peak=%d last_third_peak=%d -> %s\n", peak, mid, last, flat ? "flat" : "GROWING"
    printf "eval_queue_max=%d log_warnings=%d log_errors=%d loadgen_errors=%s overloaded=%s\n", qmax, warn, err, failed, overloaded
    ok = flat && err == 0 && failed == 0 && overloaded == 0
    print (ok ? "SOAK OK" : "SOAK FAILED")
    exit ok ? 0 : 1
  }' "$csv"
