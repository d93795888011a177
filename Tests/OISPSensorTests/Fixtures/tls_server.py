"""Test peer: HTTPS/1.1 server on 127.0.0.1 with a self-signed certificate.
Usage: tls_server.py CERT KEY PORTFILE. Answers POST/GET with a JSON body naming what it got.
Also serves text/event-stream on paths ending in /stream (used by decoder tests)."""
import http.server, json, ssl, sys

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _reply(self, body: bytes, ctype="application/json"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-request-id", "req-test-1")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n)
        marker = self.headers.get("X-Marker", "none")
        self._reply(json.dumps({"received_bytes": len(body), "marker": "RESPONSE-" + marker}).encode())

    def do_GET(self):
        self._reply(json.dumps({"path": self.path, "marker": "RESPONSE-GET"}).encode())

    def log_message(self, *args):
        pass

cert, key, portfile = sys.argv[1], sys.argv[2], sys.argv[3]
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
