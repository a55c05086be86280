#!/usr/bin/env bash
# One enrolment token per site for a mass roll-out (deploy/README.md).
#   deploy/rollout/site-tokens.sh sites.csv > tokens.csv
# sites.csv (header line, UTF-8):  site_id,name,prefecture,kind,pc
# tokens.csv:                      site_id,pc,token,ca_fingerprint
# Registers each site that is new (`onshi-server site add`; an existing site is
# kept), then issues a one-time token (`onshi-server site token`, audited,
# valid --ttl-hours, default 24 h here 72 h for a roll-out window). Runs where
# onshi-server can reach the database (same env as the service, e.g.
# `sudo -u onshi env $(cat /etc/onshi/server.env) ...`). tokens.csv holds
# secrets: it is created 0600; delete it once the roll-out is done.
set -euo pipefail
csv=${1:?usage: site-tokens.sh sites.csv > tokens.csv}
server=${ONSHI_SERVER_BIN:-onshi-server}
ttl=${TTL_HOURS:-72}
umask 077

echo "site_id,pc,token,ca_fingerprint"
tail -n +2 "$csv" | tr -d '\r' | while IFS=, read -r site_id name prefecture kind pc; do
  [ -n "$site_id" ] || continue
  # An existing site makes `site add` fail; the token below then decides.
  add_out=$("$server" site add --site-id "$site_id" --name "$name" \
      --prefecture "$prefecture" --kind "${kind:-clinic}" 2>&1) || true
  out=$("$server" site token --site-id "$site_id" --ttl-hours "$ttl" 2>&1) \
    || { echo "site $site_id: $add_out / $out" >&2; exit 1; }
  token=$(sed -n 's/^token: //p' <<<"$out")
  fingerprint=$(sed -n 's/^ca-fingerprint: //p' <<<"$out")
  [ -n "$token" ] && [ -n "$fingerprint" ] \
    || { echo "site token $site_id: unexpected output" >&2; exit 1; }
  echo "$site_id,$pc,$token,$fingerprint"
done
