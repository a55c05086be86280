#!/usr/bin/env bash
# Server time of the console's site page (/sites/{id}) and incident list (/incidents) at
# national scale (issue 13): seeds a fresh database with `onshi-server seed`, adds a week of
# history (one report a minute, 08:00–19:00 JST, in daily partitions as the server keeps them)
# for the sites the benchmark opens, starts the server, logs in, and measures with curl.
#
# Usage: scripts/bench-console-pages.sh [REQUESTS]   (default 200 per page kind)
# Environment: ONSHI_SERVER (default target/release/onshi-server, else target/debug),
#   PGURL (default postgres://postgres@127.0.0.1:5432), BENCH_DB (default
#   onshi_bench_console — dropped and created again: never point it at a real database),
#   SITES (250000), HISTORY_SITES (200), REUSE=1 to keep an already seeded BENCH_DB.
# Prints min / p50 / p95 / p99 / max of the server time (curl: first byte minus request sent, on
# localhost) per page kind, then `site_page_p95_ms=` and `incident_list_p95_ms=`.
# Needs: psql, curl, awk.
set -euo pipefail

REQUESTS=${1:-200}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
BENCH_DB=${BENCH_DB:-onshi_bench_console}
SITES=${SITES:-250000}
HISTORY_SITES=${HISTORY_SITES:-200}
BIN=${ONSHI_SERVER:-target/release/onshi-server}
[ -x "$BIN" ] || BIN=target/debug/onshi-server
[ -x "$BIN" ] || { echo "build onshi-server first (cargo build --release -p onshi-server)" >&2; exit 2; }
export DATABASE_URL="$PGURL/$BENCH_DB" ONSHI_LOG=${ONSHI_LOG:-warn}
work=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

if [ "${REUSE:-0}" != 1 ]; then
    psql -q "$PGURL/postgres" -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" -c "CREATE DATABASE $BENCH_DB"
    "$BIN" seed --sites "$SITES"
    # Daily partitions for the week (as ingest/history.rs names them), then the history rows.
    psql -q "$DATABASE_URL" <<SQL
DO \$\$
DECLARE d date;
BEGIN
  FOR d IN SELECT generate_series(current_date - 8, current_date + 1, interval '1 day')::date LOOP
    EXECUTE format('CREATE TABLE IF NOT EXISTS report_history_p%s PARTITION OF report_history
                    FOR VALUES FROM (%L) TO (%L)', to_char(d, 'YYYYMMDD'),
                   d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
  END LOOP;
END \$\$;
INSERT INTO report_history (received_at, agent_id, site_id, seq, collected_at, health, report,
    reader_power, boot_time, target_names, target_reachable, target_latency_ms, probe_errors)
SELECT t, 'agent-' || s.site_id, s.site_id, extract(epoch FROM t)::bigint, t, 'ok', '\\x0801'::bytea,
       CASE WHEN (extract(epoch FROM t)::bigint / 3600 + s.n) % 50 = 0 THEN 'off' ELSE 'on' END,
       date_trunc('day', t AT TIME ZONE 'Asia/Tokyo') AT TIME ZONE 'Asia/Tokyo' + interval '7 hours 55 minutes',
       ARRAY['router', 'onshi-endpoint', 'vpn'],
       ARRAY[(extract(epoch FROM t)::bigint / 60 + s.n) % 97 <> 0, true, true],
       ARRAY[2 + s.n % 3, 20 + (extract(minute FROM t)::int % 9), 35], 0
FROM (SELECT 'seed-' || lpad(n::text, 6, '0') AS site_id, n FROM generate_series(1, $HISTORY_SITES) n) s
CROSS JOIN generate_series(now() - interval '7 days', now() - interval '1 minute', interval '1 minute') t
WHERE extract(hour FROM t AT TIME ZONE 'Asia/Tokyo') BETWEEN 8 AND 18;
ANALYZE report_history;
SQL
fi

"$BIN" serve --data-dir "$work" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 > "$work/out" 2> "$work/log" &
server_pid=$!
for _ in $(seq 600); do grep -q 'http:' "$work/out" 2>/dev/null && break; sleep 0.1; done
http=$(awk '{print $4}' "$work/out")
[ -n "$http" ] || { cat "$work/log" >&2; exit 1; }
printf 'bench-console-pw-%s' "$$" | "$BIN" admin create --data-dir "$work" --username "bench$$" --role admin --password-stdin > /dev/null
jar="$work/cookies"
curl -s -o /dev/null -c "$jar" -d "username=bench$$&password=bench-console-pw-$$&next=/" "http://$http/login"

# One line per request: server time in ms (first byte minus request sent).
measure() { # name, then URLs on stdin
    local name=$1 times="$work/$1.times"
    while read -r url; do
        curl -s -o /dev/null -b "$jar" -w '%{http_code} %{time_pretransfer} %{time_starttransfer}\n' "http://$http$url"
    done | awk -v out="$times" '$1 != 200 { bad++ } { printf "%.3f\n", ($3 - $2) * 1000 > out } END { if (bad) print bad " non-200 answers" > "/dev/stderr" }'
    sort -n "$times" | awk -v name="$name" '{ v[NR] = $1 } END {
        n = NR;
        printf "%-14s n=%d min=%.1f ms p50=%.1f ms p95=%.1f ms p99=%.1f ms max=%.1f ms\n", name, n, v[1],
            v[int(n * 0.50) + (n * 0.50 > int(n * 0.50))], v[int(n * 0.95) + (n * 0.95 > int(n * 0.95))],
            v[int(n * 0.99) + (n * 0.99 > int(n * 0.99))], v[n] }'
}

# Warm-up (connection pool, caches), not measured.
for i in $(seq 20); do curl -s -o /dev/null -b "$jar" "http://$http/sites/seed-$(printf %06d "$i")"; done

for i in $(seq "$REQUESTS"); do
    printf '/sites/seed-%06d\n' $(( (RANDOM * 32768 + RANDOM) % HISTORY_SITES + 1 ))
done | measure site_page
for i in $(seq "$REQUESTS"); do
    case $(( i % 4 )) in
        0) echo "/incidents" ;;
        1) echo "/incidents?severity=critical" ;;
        2) echo "/incidents?prefecture=%E6%9D%B1%E4%BA%AC%E9%83%BD&silenced=no" ;;
        3) echo "/incidents?state=all&rule=reader_off" ;;
    esac
done | measure incident_list

p95() { sort -n "$work/$1.times" | awk '{ v[NR] = $1 } END { i = int(NR * 0.95); if (i < NR * 0.95) i++; print v[i] }'; }
echo "site_page_p95_ms=$(p95 site_page)"
echo "incident_list_p95_ms=$(p95 incident_list)"
