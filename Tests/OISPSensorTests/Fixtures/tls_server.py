"""Test peer: HTTPS/1.1 server on 127.0.0.1 with a self-signed certificate.
Usage: tls_server.py CERT KEY PORTFILE [plain]. Answers POST/GET with a JSON body naming what it
got; with `plain`, plain HTTP (a local model server's port) instead of TLS.
Also serves text/event-stream on paths ending in /stream (used by decoder tests).
Chat completions: an `X-Chunks: N` request header makes the answer N words long (N content chunks
when streamed, as Benchmarks/tls_load.py asks for); without it the answer is the usual five words.
TLS_SERVER_PORT=N in the environment: listen on that port instead of a free one (DocsTests: 443
in a private network namespace)."""
import http.server, json, ssl, sys

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

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
        if self.path.endswith("/chat/completions"):
            return self._openai(json.loads(body or b"{}"), int(self.headers.get("X-Chunks", 0)))
        marker = self.headers.get("X-Marker", "none")
        self._reply(json.dumps({"received_bytes": len(body), "marker": "RESPONSE-" + marker}).encode())

    def _openai(self, req, chunks=0):
        """Answers like OpenAI's chat completions API (JSON, or SSE when stream is true).
        chunks > 0: the answer is that many words, each its own SSE chunk when streamed."""
        model = req.get("model", "gpt-4o")
        text = "Hello from the test model." if chunks <= 0 else " ".join("word%d" % i for i in range(chunks))
        completion_tokens = 6 if chunks <= 0 else chunks
        if req.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("x-request-id", "req_stream_1")
            self.end_headers()
            def send(obj):
                data = ("data: " + (obj if isinstance(obj, str) else json.dumps(obj)) + "\n\n").encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            send({"id": "chatcmpl-s1", "model": model, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
            for w in text.split(" "):
                send({"id": "chatcmpl-s1", "model": model, "choices": [{"index": 0, "delta": {"content": w + " "}}]})
            send({"id": "chatcmpl-s1", "model": model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            send({"id": "chatcmpl-s1", "model": model, "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": completion_tokens, "total_tokens": 11 + completion_tokens}})
            send("[DONE]")
            self.wfile.write(b"0\r\n\r\n")
            return
        out = {"id": "chatcmpl-t1", "object": "chat.completion", "model": model,
               "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 11, "completion_tokens": completion_tokens, "total_tokens": 11 + completion_tokens}}
        self._reply(json.dumps(out).encode())

    def do_GET(self):
        self._reply(json.dumps({"path": self.path, "marker": "RESPONSE-GET"}).encode())

    def log_message(self, *args):
        pass

cert, key, portfile = sys.argv[1], sys.argv[2], sys.argv[3]
import os
srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("TLS_SERVER_PORT", "0"))), Handler)
if sys.argv[4:] != ["plain"]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
