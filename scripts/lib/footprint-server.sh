# Shared by scripts/agent-footprint*.sh (sourced): a throw-away database and a
# release onshi-server on a free port, with one site and an enrolment token.
# Needs: server_bin, work, admin_url, db. Sets: DATABASE_URL, port,
# server_pid, token, fp (the CA fingerprint).
start_footprint_server() {
  psql "$admin_url" -qc "CREATE DATABASE $db" >/dev/null
  export DATABASE_URL=${admin_url%/*}/$db
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$server_bin" serve --grpc-addr 127.0.0.1:$port --http-addr 127.0.0.1:0 --data-dir "$work/server" \
    >"$work/server.out" 2>"$work/server.log" &
  server_pid=$!
  for _ in $(seq 50); do grep -q grpc: "$work/server.out" 2>/dev/null && break; sleep 0.2; done
  "$server_bin" site add --site-id fp-site --name fp-site --data-dir "$work/server" >/dev/null
  local tok
  tok=$("$server_bin" site token --site-id fp-site --data-dir "$work/server")
  token=$(sed -n 's/^token: *//p' <<<"$tok")
  fp=$(sed -n 's/^ca-fingerprint: *//p' <<<"$tok")
}
