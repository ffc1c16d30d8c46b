"""A small OTLP/HTTP receiver on 127.0.0.1 for the telemetry test: it decodes what it is
sent with the official `opentelemetry-proto` package (PyPI) and appends each request, as
JSON (protobuf's JSON mapping), to a file.

Usage: otlp_receiver.py OUT.jsonl — prints the port it listens on, then serves until killed.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

OUT = sys.argv[1]
KINDS = {
    "/v1/traces": (trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse),
    "/v1/metrics": (metrics_service_pb2.ExportMetricsServiceRequest, metrics_service_pb2.ExportMetricsServiceResponse),
}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        kind = KINDS.get(self.path)
        if kind is None or self.headers.get("Content-Type") != "application/x-protobuf":
            self.send_response(404 if kind is None else 415)
            self.end_headers()
            return
        request, response = kind
        message = request()
        message.ParseFromString(body)  # raises on a malformed payload: the test sees a 500
        with open(OUT, "a") as f:
            f.write(json.dumps({"path": self.path, "body": MessageToDict(message)}) + "\n")
        reply = response().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
