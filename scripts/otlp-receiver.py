#!/usr/bin/env python3
"""A minimal OTLP/gRPC trace receiver, to check `onshi-server --otel-endpoint`
against a real OpenTelemetry wire peer without running a collector.

    pip install grpcio opentelemetry-proto
    scripts/otlp-receiver.py --port 4317 --seconds 30 [--out spans.jsonl]

It accepts `ExportTraceServiceRequest`s (the collector's TraceService), counts
spans by name and service, optionally writes one JSON line per span, and after
`--seconds` prints a summary and exits 0 if at least one span arrived (1 if
none). docs/OPERATIONS.md "Tracing" shows it used with the server.
"""

import argparse
import collections
import json
import sys
import threading
import time
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)


def attribute_text(value):
    kind = value.WhichOneof("value")
    return str(getattr(value, kind)) if kind else ""


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, out):
        self.lock = threading.Lock()
        self.by_name = collections.Counter()
        self.services = collections.Counter()
        self.requests = 0
        self.out = out

    def Export(self, request, context):
        with self.lock:
            self.requests += 1
            for resource_spans in request.resource_spans:
                service = next(
                    (
                        attribute_text(a.value)
                        for a in resource_spans.resource.attributes
                        if a.key == "service.name"
                    ),
                    "?",
                )
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.by_name[span.name] += 1
                        self.services[service] += 1
                        if self.out:
                            self.out.write(
                                json.dumps(
                                    {
                                        "service": service,
                                        "name": span.name,
                                        "trace_id": span.trace_id.hex(),
                                        "span_id": span.span_id.hex(),
                                        "parent": span.parent_span_id.hex(),
                                        "duration_ms": (span.end_time_unix_nano - span.start_time_unix_nano)
                                        / 1e6,
                                        "attributes": {
                                            a.key: attribute_text(a.value) for a in span.attributes
                                        },
                                    }
                                )
                                + "\n"
                            )
        return trace_service_pb2.ExportTraceServiceResponse()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=4317)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--out", help="write one JSON line per span to this file")
    args = parser.parse_args()
    out = open(args.out, "w", encoding="utf-8") if args.out else None
    receiver = Receiver(out)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print(f"otlp-receiver: listening on 127.0.0.1:{args.port} for {args.seconds:.0f} s", flush=True)
    time.sleep(args.seconds)
    server.stop(grace=2).wait()
    if out:
        out.close()
    total = sum(receiver.by_name.values())
    print(f"otlp-receiver: {receiver.requests} export requests, {total} spans")
    for service, n in receiver.services.most_common():
        print(f"  service {service}: {n}")
    for name, n in receiver.by_name.most_common(20):
        print(f"  {n:6d}  {name}")
    sys.exit(0 if total else 1)


if __name__ == "__main__":
    main()
