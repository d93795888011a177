"""Test peer: a stand-in for the kubelet's read API on HTTPS with a self-signed certificate.
Usage: kubelet_stub.py CERT KEY PORTFILE PODS_JSON CALLS_FILE TOKEN
GET /pods answers the file PODS_JSON (read at every request, so a test can add a pod) as the
kubelet does: 200 application/json with the v1 PodList, or 401 "Unauthorized" (text/plain) when
the request lacks `Authorization: Bearer TOKEN`. Every request to /pods appends one line
"<status> <unix time>" to CALLS_FILE."""
import http.server, ssl, sys, threading, time

cert, key, portfile, pods_path, calls_path, token = sys.argv[1:7]
lock = threading.Lock()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path != "/pods" and self.path != "/pods/":
            return self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
        ok = self.headers.get("Authorization") == "Bearer " + token
        with lock, open(calls_path, "a") as f:
            f.write("%d %f\n" % (200 if ok else 401, time.time()))
        if not ok:
            return self._send(401, b"Unauthorized", "text/plain; charset=utf-8")
        with open(pods_path, "rb") as f:
            body = f.read()
        self._send(200, body, "application/json")

    def log_message(self, *args):
        pass

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
