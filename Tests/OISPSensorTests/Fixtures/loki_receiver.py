"""Test peer for Loki's push API (POST /loki/api/v1/push, JSON body, optional gzip), validating
what Loki validates: a "streams" array; each stream's labels a non-empty map whose names match
[a-zA-Z_][a-zA-Z0-9_]*; values as ["<unix ns as a string>", "<line>"]; timestamps not older than
the newest already accepted for the same stream (400 "entry out of order") and not older than a
week (400 "entry too far behind"). --rate-limit-first N answers 429 to the first N pushes.
Accepted entries are appended to OUT as JSON lines. Usage: loki_receiver.py OUT PORTFILE [..]"""
import gzip, json, os, re, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

out, port_file = sys.argv[1], sys.argv[2]
rate_limit = int(sys.argv[sys.argv.index("--rate-limit-first") + 1]) if "--rate-limit-first" in sys.argv else 0
lock = threading.Lock()
newest = {}
state = {"pushes": 0}
LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

class H(BaseHTTPRequestHandler):
    def reply(self, code, text=""):
        b = text.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def do_POST(self):
        if self.path != "/loki/api/v1/push":
            return self.reply(404, "404 page not found")
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        with lock:
            state["pushes"] += 1
            if state["pushes"] <= rate_limit:
                return self.reply(429, "Ingestion rate limit exceeded")
        if "json" not in self.headers.get("Content-Type", ""):
            return self.reply(415, "unsupported content type")
        try:
            doc = json.loads(body)
            streams = doc["streams"]
            assert isinstance(streams, list)
        except Exception as e:
            return self.reply(400, f"error parsing push request: {e}")
        accepted = []
        with lock:
            for s in streams:
                labels = s.get("stream")
                if not isinstance(labels, dict) or not labels:
                    return self.reply(400, "error at least one label pair is required per stream")
                for k, v in labels.items():
                    if not LABEL.match(k) or not isinstance(v, str):
                        return self.reply(400, f'error parsing labels: invalid label name "{k}"')
                key = json.dumps(labels, sort_keys=True)
                for entry in s.get("values", []):
                    if not (isinstance(entry, list) and len(entry) >= 2 and isinstance(entry[0], str) and entry[0].isdigit() and isinstance(entry[1], str)):
                        return self.reply(400, "error parsing entry: expected [\"<ns>\", \"<line>\"]")
                    ts = int(entry[0])
                    if ts < time.time_ns() - 7 * 24 * 3600 * 10**9:
                        return self.reply(400, f"entry for stream {key} has timestamp too old: {ts}")
                    if ts < newest.get(key, 0):
                        return self.reply(400, f"entry out of order for stream {key}")
                    newest[key] = ts
                    accepted.append({"labels": labels, "ts": entry[0], "line": entry[1], "tenant": self.headers.get("X-Scope-OrgID")})
            with open(out, "a") as f:
                for a in accepted:
                    f.write(json.dumps(a) + "\n")
        self.reply(204)

    def log_message(self, *a):
        pass

srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
