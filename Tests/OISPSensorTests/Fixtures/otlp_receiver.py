"""Test peer: an OTLP receiver built on the official definitions (opentelemetry-proto + grpcio).
Serves TraceService/LogsService over gRPC and /v1/traces, /v1/logs over HTTP (protobuf or JSON),
and appends every request it accepts — signal, transport, metadata/headers, decoded content —
as one JSON line to OUT. Usage: otlp_receiver.py OUT PORTFILE [--fail-first N] [--grpc-port N] [--throttle S] [--reject-logs N]
--reject-logs N: every logs export answers with partial_success rejecting N log records.
--tls CERT KEY CA: both transports take TLS only, with CERT/KEY, and require a client
certificate signed by CA (mutual TLS, as a collector behind a private CA does).
--throttle S: the failures carry the server's wait of S seconds the way each transport says it —
gRPC as a google.rpc.RetryInfo in grpc-status-details-bin, HTTP as a Retry-After HTTP-date."""
import gzip, json, sys, threading, time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from email.utils import formatdate
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2, status_pb2
from google.protobuf.json_format import MessageToDict, MessageToJson, Parse
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

out_path, port_file = sys.argv[1], sys.argv[2]
fail_first = int(sys.argv[sys.argv.index("--fail-first") + 1]) if "--fail-first" in sys.argv else 0
reject_logs = int(sys.argv[sys.argv.index("--reject-logs") + 1]) if "--reject-logs" in sys.argv else 0
throttle = int(sys.argv[sys.argv.index("--throttle") + 1]) if "--throttle" in sys.argv else 0
fixed_grpc_port = int(sys.argv[sys.argv.index("--grpc-port") + 1]) if "--grpc-port" in sys.argv else 0
tls = sys.argv[sys.argv.index("--tls") + 1:sys.argv.index("--tls") + 4] if "--tls" in sys.argv else None
lock = threading.Lock()
state = {"calls": 0}

def should_fail():
    with lock:
        state["calls"] += 1
        return state["calls"] <= fail_first

def record(signal, transport, meta, msg):
    d = MessageToDict(msg, preserving_proto_field_name=True)
    with lock, open(out_path, "a") as f:
        f.write(json.dumps({"signal": signal, "transport": transport, "metadata": meta, "request": d}) + "\n")

def fail_grpc(context):
    if throttle:
        st = status_pb2.Status(code=grpc.StatusCode.UNAVAILABLE.value[0], message="throttled")
        st.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=Duration(seconds=throttle)))
        context.set_trailing_metadata((("grpc-status-details-bin", st.SerializeToString()),))
    context.abort(grpc.StatusCode.UNAVAILABLE, "warming up")

class Trace(trace_service_pb2_grpc.TraceServiceServicer):
    def Export(self, request, context):
        if should_fail():
            fail_grpc(context)
        record("traces", "grpc", dict(context.invocation_metadata()), request)
        return trace_service_pb2.ExportTraceServiceResponse()

def logs_response():
    r = logs_service_pb2.ExportLogsServiceResponse()
    if reject_logs:
        r.partial_success.rejected_log_records = reject_logs
        r.partial_success.error_message = "log record too large for the index"
    return r

class Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def Export(self, request, context):
        if should_fail():
            fail_grpc(context)
        record("logs", "grpc", dict(context.invocation_metadata()), request)
        return logs_response()

class HTTP(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        kinds = {"/v1/traces": ("traces", trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse),
                 "/v1/logs": ("logs", logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse)}
        if self.path not in kinds:
            self.send_response(404); self.end_headers(); return
        if should_fail():
            self.send_response(503); self.send_header("Retry-After", formatdate(time.time() + throttle, usegmt=True) if throttle else "1"); self.send_header("Content-Length", "0"); self.end_headers(); return
        signal, req_t, resp_t = kinds[self.path]
        msg = req_t()
        try:
            if "json" in self.headers.get("Content-Type", ""):
                Parse(body.decode(), msg)
            else:
                msg.ParseFromString(body)
        except Exception as e:
            self.send_response(400); self.send_header("Content-Length", "0"); self.end_headers()
            print("bad request:", e, file=sys.stderr); return
        record(signal, "http", {k.lower(): v for k, v in self.headers.items()}, msg)
        resp = logs_response() if signal == "logs" else resp_t()
        # OTLP/HTTP answers in the request's encoding
        is_json = "json" in self.headers.get("Content-Type", "")
        out = MessageToJson(resp).encode() if is_json else resp.SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/json" if is_json else "application/x-protobuf")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass

server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Trace(), server)
logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), server)
if tls:
    cert, key, ca = (open(f, "rb").read() for f in tls)
    creds = grpc.ssl_server_credentials(((key, cert),), root_certificates=ca, require_client_auth=True)
    grpc_port = server.add_secure_port(f"127.0.0.1:{fixed_grpc_port}", creds)
else:
    grpc_port = server.add_insecure_port(f"127.0.0.1:{fixed_grpc_port}")
server.start()
httpd = ThreadingHTTPServer(("127.0.0.1", 0), HTTP)
if tls:
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls[0], tls[1])
    ctx.load_verify_locations(tls[2])
    ctx.verify_mode = ssl.CERT_REQUIRED
    # the handshake runs in each request's thread, so a refused client cannot stall the server
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
threading.Thread(target=httpd.serve_forever, daemon=True).start()
with open(port_file + ".tmp", "w") as f:
    f.write(f"{grpc_port} {httpd.server_address[1]}")
import os
os.rename(port_file + ".tmp", port_file)
server.wait_for_termination()
