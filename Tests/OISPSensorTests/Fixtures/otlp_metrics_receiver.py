"""Test peer: an OTLP metrics receiver built on the official definitions (opentelemetry-proto +
grpcio). Serves MetricsService (and TraceService, to see the spans of the same calls) over gRPC
and /v1/metrics over HTTP (protobuf or JSON), and appends every request it accepts — signal,
transport and decoded content — as one JSON line to OUT.
Usage: otlp_metrics_receiver.py OUT PORTFILE (PORTFILE gets "<grpc port> <http port>")."""
import gzip, json, sys, threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from google.protobuf.json_format import MessageToDict, Parse
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

out_path, port_file = sys.argv[1], sys.argv[2]
lock = threading.Lock()

def record(transport, msg, signal="metrics"):
    d = MessageToDict(msg, preserving_proto_field_name=True)
    with lock, open(out_path, "a") as f:
        f.write(json.dumps({"signal": signal, "transport": transport, "request": d}) + "\n")

class Trace(trace_service_pb2_grpc.TraceServiceServicer):
    def Export(self, request, context):
        record("grpc", request, "traces")
        return trace_service_pb2.ExportTraceServiceResponse()

class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def Export(self, request, context):
        record("grpc", request)
        return metrics_service_pb2.ExportMetricsServiceResponse()

class HTTP(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path != "/v1/metrics":
            self.send_response(404); self.end_headers(); return
        req = metrics_service_pb2.ExportMetricsServiceRequest()
        if "json" in self.headers.get("Content-Type", ""):
            Parse(body.decode(), req)
        else:
            req.ParseFromString(body)
        record("http", req)
        out = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a):
        pass

server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Trace(), server)
grpc_port = server.add_insecure_port("127.0.0.1:0")
server.start()
http = ThreadingHTTPServer(("127.0.0.1", 0), HTTP)
with open(port_file + ".tmp", "w") as f:
    f.write(f"{grpc_port} {http.server_address[1]}")
import os
os.replace(port_file + ".tmp", port_file)
http.serve_forever()
