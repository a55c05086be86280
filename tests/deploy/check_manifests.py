"""Checks rendered Onshi Fleet manifests (one multi-document YAML on stdin)
for what the Kubernetes schemas cannot say: the operational contract of
issue 15, and the ServiceMonitor CRD, whose schema kubernetes-validate does
not ship (checked here against the fields of monitoring.coreos.com/v1 we use).
Prints one line per problem; exit 1 if any."""
import re
import sys

import yaml

docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
problems = []
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)


def need(cond, what):
    if not cond:
        problems.append(what)


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


deployments = by_kind.get("Deployment", [])
need(len(deployments) == 1, "exactly one Deployment (onshi-server)")
for dep in deployments:
    spec = dep["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    need(spec.get("replicas", 1) >= 2, "Deployment replicas >= 2")
    need(matches(spec["selector"]["matchLabels"], pod_labels), "Deployment selector matches its pods")
    pod = spec["template"]["spec"]
    need(pod["securityContext"].get("runAsNonRoot") is True, "pod runAsNonRoot")
    for c in pod.get("initContainers", []) + pod["containers"]:
        res = c.get("resources", {})
        need("requests" in res and "limits" in res, f"{c['name']}: resource requests and limits")
        need(c.get("securityContext", {}).get("readOnlyRootFilesystem") is True, f"{c['name']}: read-only root")
    server = pod["containers"][0]
    need(server["readinessProbe"]["httpGet"]["path"] == "/readyz", "readiness probe on /readyz")
    need(server["livenessProbe"]["httpGet"]["path"] == "/healthz", "liveness probe on /healthz")
    ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    need(ports == {"grpc": 50051, "http": 8080}, f"container ports grpc 50051, http 8080: {ports}")
    secrets = {s["metadata"]["name"] for s in by_kind.get("Secret", [])}
    refs = [e["valueFrom"]["secretKeyRef"]["name"] for e in server.get("env", []) if "valueFrom" in e]
    refs += [v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v]
    for ref in refs:
        need(ref in secrets, f"Secret {ref} referenced by the Deployment is rendered")
    need(any(r.startswith("onshi-database") for r in refs), "DATABASE_URL from a Secret")
    need(any(r.startswith("onshi-ca") for r in refs), "CA key from a Secret")

    pdbs = by_kind.get("PodDisruptionBudget", [])
    need(len(pdbs) == 1 and matches(pdbs[0]["spec"]["selector"]["matchLabels"], pod_labels),
         "a PodDisruptionBudget selecting the server pods")
    services = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
    for name, port in [("onshi-http", "http"), ("onshi-grpc", "grpc")]:
        svc = services.get(name)
        need(svc is not None, f"Service {name}")
        if svc:
            need(matches(svc["spec"]["selector"], pod_labels), f"Service {name} selects the server pods")
            need([p["targetPort"] for p in svc["spec"]["ports"]] == [port], f"Service {name} targets port {port}")
    grpc = services.get("onshi-grpc", {}).get("spec", {})
    need(grpc.get("type") == "LoadBalancer", "gRPC Service is an L4 LoadBalancer")

monitors = by_kind.get("ServiceMonitor", [])
need(len(monitors) == 1, "one ServiceMonitor")
interval = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")
for sm in monitors:
    need(sm["apiVersion"] == "monitoring.coreos.com/v1", "ServiceMonitor apiVersion monitoring.coreos.com/v1")
    spec = sm["spec"]
    allowed = {"selector", "endpoints", "namespaceSelector", "jobLabel", "targetLabels"}
    need(set(spec) <= allowed, f"ServiceMonitor spec fields: unknown {set(spec) - allowed}")
    selected = [s for s in by_kind.get("Service", []) if matches(spec["selector"]["matchLabels"], s["metadata"].get("labels", {}))]
    need(len(selected) == 1, f"ServiceMonitor selects exactly one Service, got {[s['metadata']['name'] for s in selected]}")
    for ep in spec["endpoints"]:
        need(set(ep) <= {"port", "path", "interval", "scrapeTimeout", "scheme"}, f"endpoint fields {set(ep)}")
        need(ep.get("path") == "/metrics", "ServiceMonitor scrapes /metrics")
        for key in ("interval", "scrapeTimeout"):
            need(key not in ep or interval.match(ep[key]), f"endpoint {key} is a Prometheus duration")
        for s in selected:
            need(ep["port"] in [p["name"] for p in s["spec"]["ports"]], f"endpoint port {ep['port']} is a named port of {s['metadata']['name']}")

for p in problems:
    print(p)
sys.exit(1 if problems else 0)
