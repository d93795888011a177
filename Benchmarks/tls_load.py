"""TLS load for `Benchmarks/run.sh record`: OpenAI-style chat completion calls over N keep-alive
connections to Tests/OISPSensorTests/Fixtures/tls_server.py, with the CPU of the processes involved
read from /proc/<pid>/stat (utime+stime) over the load window.

Usage: tls_load.py --port P --server-pid S [--watcher-pid W ...] [--calls 1000] [--conns 4]
                   [--stream] [--chunks 50] [--client python|curl]
Prints one JSON line: calls sent, errors, window, latency p50/p99 (ms), CPU seconds of the client(s),
the server and each watcher (a sensor or sslsniff; measured from the window's start until it has
gone quiet after the load, so the backlog it decodes afterwards counts).

--client python: this process is the client (python's ssl module: SSL_read_ex/SSL_write_ex), one
  thread per connection; each connection makes one untimed call first (TLS handshake), and the
  window covers the remaining calls only; CPU is this process's own, from /proc/self/stat.
--client curl: one `curl` process per connection (OpenSSL SSL_read/SSL_write, visible to BCC's
  sslsniff), each making its share of the calls on one keep-alive connection; the window is their
  whole life (exec and handshake included) and their CPU comes from wait4's rusage. --http2: over
  HTTP/2 (to run.sh's nginx, which answers from static files: --path picks streamed or not)."""
import argparse, http.client, json, os, ssl, subprocess, sys, tempfile, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--server-pid", type=int, required=True)
ap.add_argument("--watcher-pid", type=int, action="append", default=[])
ap.add_argument("--calls", type=int, default=1000)
ap.add_argument("--conns", type=int, default=4)
ap.add_argument("--stream", action="store_true")
ap.add_argument("--chunks", type=int, default=50)
ap.add_argument("--client", choices=["python", "curl"], default="python")
ap.add_argument("--http2", action="store_true", help="curl only: HTTP/2 (the server must offer h2 by ALPN: run.sh's nginx)")
ap.add_argument("--path", default="/v1/chat/completions", help="the request path")
ap.add_argument("--settle-max", type=float, default=30.0)
a = ap.parse_args()

HZ = os.sysconf("SC_CLK_TCK")
KEY = "sk-proj-BENCHKEY1234567890abcdefghijkl"
BODY = json.dumps({"model": "gpt-4o-mini", "stream": a.stream, "temperature": 0.2,
                   "messages": [{"role": "system", "content": "You are a helpful assistant. Be brief."},
                                {"role": "user", "content": "Write a short answer about load testing TLS agents."}]}).encode()
HEADERS = {"Host": "api.openai.com", "Authorization": "Bearer " + KEY, "Content-Type": "application/json",
           "X-Chunks": str(a.chunks)}


def cpu(pid):
    """utime+stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def share(i):
    return a.calls // a.conns + (1 if i < a.calls % a.conns else 0)


lat, errors, warm = [], [0], 0
if a.client == "python":
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    def call(c):
        t = time.perf_counter()
        c.request("POST", "/v1/chat/completions", body=BODY, headers=HEADERS)
        r = c.getresponse()
        data = r.read()
        ok = r.status == 200 and (b"[DONE]" in data if a.stream else b'"usage"' in data)
        return time.perf_counter() - t, ok

    conns = [http.client.HTTPSConnection("127.0.0.1", a.port, context=ctx) for _ in range(a.conns)]
    for c in conns:  # handshake + one call per connection, outside the window
        _, ok = call(c)
        warm += 1
        errors[0] += not ok
    go = threading.Barrier(a.conns + 1)
    lock = threading.Lock()

    def worker(i):
        mine = []
        go.wait()
        for _ in range(share(i)):
            try:
                dt, ok = call(conns[i])
            except Exception:
                ok, dt = False, float("nan")
                conns[i].close()
            mine.append(dt)
            if not ok:
                with lock:
                    errors[0] += 1
        with lock:
            lat.extend(mine)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(a.conns)]
    [t.start() for t in ts]
    s0, w0, c0 = cpu(a.server_pid), [cpu(w) for w in a.watcher_pid], cpu(os.getpid())
    t0 = time.perf_counter()
    go.wait()
    [t.join() for t in ts]
    t1 = time.perf_counter()
    client_cpu = cpu(os.getpid()) - c0
    s1 = cpu(a.server_pid)
    [c.close() for c in conns]
    client_pids = [os.getpid()]
else:
    tmp = tempfile.mkdtemp(prefix="tls-load-")
    open(f"{tmp}/body", "wb").write(BODY)
    cfgs = []
    for i in range(a.conns):
        p = f"{tmp}/curl-{i}.cfg"
        with open(p, "w") as f:
            f.write('silent\ninsecure\n' + ('http2' if a.http2 else 'http1.1') + '\nrequest = "POST"\n')
            f.write(f'data-binary = "@{tmp}/body"\n')
            for k, v in HEADERS.items():
                f.write(f'header = "{k}: {v}"\n')
            f.write('write-out = "%{http_code} %{time_total}\\n"\n')
            for _ in range(share(i)):
                f.write(f'url = "https://127.0.0.1:{a.port}{a.path}"\noutput = "/dev/null"\n')
        cfgs.append(p)
    s0, w0 = cpu(a.server_pid), [cpu(w) for w in a.watcher_pid]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(["curl", "-K", p], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) for p in cfgs]
    outs = [p.stdout.read() for p in procs]  # curl writes one line per call: status and total time
    client_cpu = 0.0
    for p in procs:
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = status
        client_cpu += ru.ru_utime + ru.ru_stime
    t1 = time.perf_counter()
    s1 = cpu(a.server_pid)
    client_pids = [p.pid for p in procs]
    for p, out in zip(procs, outs):
        for line in out.decode().splitlines():
            code, secs = line.split()
            lat.append(float(secs))
            errors[0] += code != "200"
        errors[0] += share(procs.index(p)) - len(out.decode().splitlines())
    subprocess.run(["rm", "-rf", tmp])

# the watchers keep decoding after the last call: their CPU counts until they have gone quiet
# (no tick in 0.6 s, sampled every 0.2 s; at most --settle-max seconds)
settle = 0.0
w1 = list(w0)
if a.watcher_pid:
    ts0 = time.perf_counter()
    last, quiet = [cpu(w) for w in a.watcher_pid], 0
    while quiet < 3 and time.perf_counter() - ts0 < a.settle_max:
        time.sleep(0.2)
        now = [cpu(w) for w in a.watcher_pid]
        quiet = quiet + 1 if now == last else 0
        last = now
    w1 = last
    settle = time.perf_counter() - ts0 - 0.6

n = len(lat)
print(json.dumps({
    "client": a.client, "client_pids": client_pids, "stream": a.stream, "chunks": a.chunks, "conns": a.conns,
    "sent": n + warm, "window_calls": n, "errors": errors[0], "window_s": round(t1 - t0, 4),
    "p50_ms": round(pct(lat, 50) * 1000, 3), "p99_ms": round(pct(lat, 99) * 1000, 3),
    "client_cpu_s": round(client_cpu, 3), "server_cpu_s": round(s1 - s0, 3),
    "watcher_cpu_s": [round(b - x, 3) for x, b in zip(w0, w1)], "settle_s": round(max(settle, 0), 2),
}))
