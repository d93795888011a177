"""Test helper in front of osmem-server (an OpenSearch-API server): forwards every request, records
the _id of each document in each _bulk body to LOG, and — once — answers one chosen document
with a per-item 429 (not forwarding it), as a cluster whose shard rejected it would.
Usage: es_proxy.py UPSTREAM_PORT LOG PORTFILE FAIL_ID"""
import json, os, sys, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

upstream, log, port_file, fail_id = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
state = {"failed": False}

class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        lines = body.decode().split("\n")
        pairs = [(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2) if lines[i]]
        ids = [json.loads(a)["index"]["_id"] for a, _ in pairs]
        with open(log, "a") as f:
            f.write(json.dumps(ids) + "\n")
        drop = None
        if fail_id in ids and not state["failed"]:
            state["failed"] = True
            drop = ids.index(fail_id)
            pairs = [p for i, p in enumerate(pairs) if i != drop]
        fwd = ("\n".join(a + "\n" + d for a, d in pairs) + "\n").encode()
        req = urllib.request.Request(f"http://127.0.0.1:{upstream}{self.path}", data=fwd, method="POST",
                                     headers={"Content-Type": "application/x-ndjson"})
        resp = json.loads(urllib.request.urlopen(req).read())
        if drop is not None:
            resp["errors"] = True
            resp["items"].insert(drop, {"index": {"_id": fail_id, "status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "rejected"}}})
        out = json.dumps(resp).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass

srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
