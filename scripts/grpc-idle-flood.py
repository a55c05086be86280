# Opens N idle TCP sockets to the gRPC port (never starting TLS), then measures
# /healthz while they are open and how many the server closed within a bound.
# Loopback only. Usage: python3 scripts/grpc-idle-flood.py GRPC_ADDR HTTP_ADDR N
# (the addresses `onshi-server serve` prints). Figures: docs/benchmarks.md.
import resource, socket, sys, time, urllib.request
grpc, http, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
host, port = grpc.rsplit(":", 1)
socks = []
t0 = time.time()
for i in range(n):
    s = socket.socket(); s.setblocking(True)
    s.connect((host, int(port)))
    socks.append(s)
print(f"opened {len(socks)} sockets in {time.time()-t0:.1f}s")
def healthz():
    t = time.time()
    try:
        with urllib.request.urlopen(f"http://{http}/healthz", timeout=5) as r:
            return r.status, time.time() - t
    except Exception as e:
        return repr(e), time.time() - t
print("healthz while open:", healthz())
m = urllib.request.urlopen(f"http://{http}/metrics", timeout=5).read().decode()
for l in m.splitlines():
    if l.startswith("onshi_grpc_connections") or l.startswith("onshi_tls_handshake"):
        print("  ", l)
# Wait until every socket is closed by the server (EOF), bounded at 60 s.
import selectors
sel = selectors.DefaultSelector()
for s in socks: sel.register(s, selectors.EVENT_READ)
open_ = set(socks); t1 = time.time()
while open_ and time.time() - t1 < 60:
    for key, _ in sel.select(0.5):
        s = key.fileobj
        try:
            data = s.recv(16)
        except OSError:
            data = b""
        if data == b"":
            open_.discard(s); sel.unregister(s)
print(f"closed by server: {n-len(open_)} of {n}, last after {time.time()-t1:.1f}s")
print("healthz after:", healthz())
m = urllib.request.urlopen(f"http://{http}/metrics", timeout=5).read().decode()
for l in m.splitlines():
    if l.startswith("onshi_grpc_connections") or l.startswith("onshi_tls_handshake"):
        print("  ", l)
